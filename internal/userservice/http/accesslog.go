package http

import (
	"io"
	"strconv"
	"sync"
	"time"
)

// accessLog writes one JSON line per request in the same shape as the
// slog JSON handler ({"time","level","msg",...}), but without slog's
// generic attribute machinery: on the hot path that machinery cost about
// as much as routing and the handler together.
type accessLog struct {
	w    io.Writer
	bufs sync.Pool
}

// newAccessLog returns an access log writing to w; nil disables it.
func newAccessLog(w io.Writer) *accessLog {
	if w == nil {
		return nil
	}
	return &accessLog{w: w, bufs: sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}}
}

// entry is one request's access-log fields.
type entry struct {
	start     time.Time
	elapsed   time.Duration
	method    string
	route     string
	status    int
	bytes     int
	requestID string
}

// write formats e as one JSON line and writes it.
func (l *accessLog) write(e entry) {
	if l == nil {
		return
	}
	bp := l.bufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"time":"`...)
	b = e.start.Add(e.elapsed).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"Handled request","method":`...)
	b = appendString(b, e.method)
	b = append(b, `,"route":`...)
	b = appendString(b, e.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.elapsed.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(e.bytes), 10)
	b = append(b, `,"request_id":`...)
	b = appendString(b, e.requestID)
	b = append(b, "}\n"...)
	_, _ = l.w.Write(b)
	*bp = b
	l.bufs.Put(bp)
}
