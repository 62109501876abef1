package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/userservice-dev/userservice-operator/internal/userservice/rpc"
)

// listenGRPC opens the gRPC port, or returns nil when port is 0 (gRPC
// turned off).
func listenGRPC(port int) (net.Listener, error) {
	if port == 0 {
		return nil, nil
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("listening on GRPC_PORT %d: %w", port, err)
	}
	return ln, nil
}

// grpcServer returns the gRPC server on ln: the gRPC API, health and
// reflection (see package rpc) over plaintext HTTP/2 (h2c, as gRPC
// clients speak it without TLS), and HTTP/1.1 for Connect and gRPC-Web
// clients, with the HTTP server's timeouts.
func grpcServer(ln net.Listener, o rpc.Options, logger *slog.Logger) (server, error) {
	h, err := rpc.NewHandler(o)
	if err != nil {
		return server{}, fmt.Errorf("setting up gRPC tracing: %w", err)
	}
	srv := newHTTPServer(h, logger)
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return server{name: "gRPC", ln: ln, srv: srv}, nil
}
