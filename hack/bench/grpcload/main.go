// Command grpcload calls userservice.v1.UserService/GetUser on random ids
// from many concurrent callers, through google.golang.org/grpc, for
// hack/bench/user-service.sh (the gRPC side of grpc_read_ratio). It stops
// after -d or -max calls, whichever comes first, and prints
// "rps=<calls/s> errors=<n> p99_ms=<ms>".
//
//	go run ./hack/bench/grpcload -addr 127.0.0.1:50051 -c 64 -d 20s -ids 10000 -token "$TOKEN"
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "the service's gRPC host:port (loopback)")
	callers := flag.Int("c", 64, "concurrent callers")
	connections := flag.Int("conns", 0, "HTTP/2 connections the callers share, round robin (0: one per caller, as wrk's)")
	duration := flag.Duration("d", 20*time.Second, "how long to call")
	maxCalls := flag.Int64("max", 50_000_000, "stop after this many calls")
	ids := flag.Int64("ids", 10000, "ids are drawn from 1..ids")
	token := flag.String("token", "", "bearer token sent in the authorization metadata")
	flag.Parse()
	if *connections <= 0 || *connections > *callers {
		*connections = *callers
	}
	if err := run(*addr, *callers, *connections, *duration, *maxCalls, *ids, *token); err != nil {
		fmt.Fprintln(os.Stderr, "grpcload:", err)
		os.Exit(1)
	}
}

// run opens the connections, calls until the duration or the
// call budget is spent, and prints the result.
func run(addr string, callers, connections int, d time.Duration, maxCalls, ids int64, token string) error {
	conns := make([]*grpc.ClientConn, connections)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		conns[i] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	var budget, errs atomic.Int64
	budget.Store(maxCalls)
	latencies := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range callers {
		c := conns[i%connections]
		wg.Go(func() {
			req, resp := new(pb.GetUserRequest), new(pb.User)
			for ctx.Err() == nil && budget.Add(-1) >= 0 {
				req.Id = 1 + rand.Int64N(ids)
				t := time.Now()
				err := c.Invoke(ctx, userservicev1connect.UserServiceGetUserProcedure, req, resp)
				if ctx.Err() != nil {
					return // cut off by the end of the run: not counted
				}
				latencies[i] = append(latencies[i], time.Since(t))
				if err != nil && errs.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "grpcload: first error:", err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(latencies...)
	slices.Sort(all)
	p99 := time.Duration(0)
	if len(all) > 0 {
		p99 = all[len(all)*99/100]
	}
	fmt.Printf("rps=%.1f errors=%d p99_ms=%.2f\n", float64(len(all))/elapsed.Seconds(), errs.Load(),
		float64(p99.Microseconds())/1000)
	return nil
}
