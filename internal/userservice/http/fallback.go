package http

import (
	"net/http"
	"strings"
)

// probeMethods are the methods tried, in the order of the Allow header,
// when a path exists but the request's method has no route.
var probeMethods = []string{
	http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
	http.MethodPatch, http.MethodPost, http.MethodPut,
}

// fallback returns the handler for the pattern "/", which has the lowest
// precedence in mux and so only receives requests that no route matches.
// It answers 405 with an Allow header when the path has routes for other
// methods and 404 otherwise, both as {"error": ...} like every other
// error (ServeMux's own answers are plain text). Only this cold path pays
// for the extra route lookups.
func fallback(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Pattern = "" // unmatched requests keep their own metrics label
		var allow []string
		for _, m := range probeMethods {
			probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
			if _, p := mux.Handler(probe); p != "" && p != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			writeErrorBody(w, http.StatusNotFound, "no route for path "+r.URL.Path)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeErrorBody(w, http.StatusMethodNotAllowed,
			"method "+r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", "))
	}
}
