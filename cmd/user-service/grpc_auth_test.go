package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
	pb "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
)

// signWith returns an HS256 token signed with secret that expires after
// ttl (in the past when ttl is negative).
func signWith(t *testing.T, secret string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Sign([]byte(secret), "test", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGRPCAuth checks that mutations need REST's bearer token in the
// authorization metadata, that reads do not unless
// AUTH_REQUIRED_FOR_READS is set, and that a refused call touches nothing.
func TestGRPCAuth(t *testing.T) {
	db := newMigratedDB(t)
	s := startService(t, db, nil)
	s.waitReady(t, http.StatusOK, 10*time.Second)
	conn := s.grpcConn(t)
	anonymous := rpcCaller{conn: conn}
	authed := rpcCaller{conn: conn, token: s.token}

	ada, err := authed.create("Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{
		"no token":      "",
		"not a JWT":     "not-a-jwt",
		"wrong secret":  signWith(t, strings.Repeat("x", 40), time.Hour),
		"expired token": signWith(t, testSecret, -time.Minute),
	} {
		c := rpcCaller{conn: conn, token: token}
		_, err := c.create("Eve", "eve@example.com")
		wantCode(t, name+": CreateUser", err, codes.Unauthenticated, "a valid bearer token is required")
		_, err = c.update(ada.GetId(), "Eve", "eve@example.com")
		wantCode(t, name+": UpdateUser", err, codes.Unauthenticated, "a valid bearer token is required")
		wantCode(t, name+": DeleteUser", c.remove(ada.GetId()), codes.Unauthenticated, "a valid bearer token is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	basic := metadata.AppendToOutgoingContext(ctx, "authorization", "Basic YWRhOmFkYQ==")
	err = conn.Invoke(basic, userservicev1connect.UserServiceDeleteUserProcedure, &pb.DeleteUserRequest{Id: ada.GetId()},
		new(pb.DeleteUserResponse))
	wantCode(t, "Basic credentials", err, codes.Unauthenticated,
		`authorization header must have the form "Bearer <token>"`)
	if got, err := anonymous.get(ada.GetId()); err != nil || got.GetName() != "Ada" {
		t.Fatalf("an anonymous read: %v %v; refused writes must have changed nothing and reads must be open", got, err)
	}
	if _, err := anonymous.list(&pb.ListUsersRequest{}); err != nil {
		t.Fatalf("an anonymous list: %v", err)
	}

	closed := startService(t, db, map[string]string{"AUTH_REQUIRED_FOR_READS": "true"})
	closedConn := closed.grpcConn(t)
	_, err = rpcCaller{conn: closedConn}.get(ada.GetId())
	wantCode(t, "an anonymous GetUser with AUTH_REQUIRED_FOR_READS", err, codes.Unauthenticated,
		"a valid bearer token is required")
	_, err = rpcCaller{conn: closedConn}.list(&pb.ListUsersRequest{})
	wantCode(t, "an anonymous ListUsers with AUTH_REQUIRED_FOR_READS", err, codes.Unauthenticated,
		"a valid bearer token is required")
	if _, err := (rpcCaller{conn: closedConn, token: closed.token}).get(ada.GetId()); err != nil {
		t.Fatalf("an authorised GetUser with AUTH_REQUIRED_FOR_READS: %v", err)
	}
}

// TestGRPCDatabaseErrors checks the two codes that depend on the
// database: Unavailable (with REST's message) when it cannot be reached,
// and Internal, logged with the procedure, when it refuses the service for
// a reason that retrying does not cure (here, a database that does not
// exist).
func TestGRPCDatabaseErrors(t *testing.T) {
	away := startService(t,
		fmt.Sprintf("postgres://u:p@127.0.0.1:%d/db?sslmode=disable&connect_timeout=1", freePort(t)), nil)
	c := rpcCaller{conn: away.grpcConn(t), token: away.token}
	_, err := c.get(1)
	wantCode(t, "GetUser with the database away", err, codes.Unavailable, "the database is unavailable")
	_, err = c.create("Ada", "ada@example.com")
	wantCode(t, "CreateUser with the database away", err, codes.Unavailable, "the database is unavailable")

	missing := pgtest.WithDatabase(t, pgtest.SharedURL(t), "no_such_database_for_grpc")
	broken := startService(t, missing, nil)
	_, err = rpcCaller{conn: broken.grpcConn(t)}.get(1)
	wantCode(t, "GetUser on a missing database", err, codes.Internal, "internal server error")
	logs := broken.waitLog(t, `"msg":"Failed to handle request"`)
	if !strings.Contains(logs, `"procedure":"/userservice.v1.UserService/GetUser"`) {
		t.Fatalf("the internal error is not logged with its procedure:\n%s", logs)
	}
}
