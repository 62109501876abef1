package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	connectrpc "connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
	"github.com/userservice-dev/userservice-operator/pkg/client"
)

// The gRPC tests call the service with google.golang.org/grpc, the
// reference implementation, over loopback, to prove that the Connect
// server speaks the gRPC wire protocol.

// grpcConn dials the service's gRPC port with google.golang.org/grpc.
func (s *service) grpcConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	if s.grpcAddr == "" {
		t.Fatal("the service was started with GRPC_PORT=0")
	}
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dialling %s: %v", s.grpcAddr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// rpcCaller calls userservice.v1.UserService through a grpc.ClientConn,
// with the authorization metadata when token is set.
type rpcCaller struct {
	conn  *grpc.ClientConn
	token string
}

// invoke calls procedure with a 10 s deadline.
func (c rpcCaller) invoke(procedure string, req, resp proto.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return c.conn.Invoke(ctx, procedure, req, resp)
}

// get calls GetUser.
func (c rpcCaller) get(id int64) (*pb.User, error) {
	u := new(pb.User)
	return u, c.invoke(userservicev1connect.UserServiceGetUserProcedure, &pb.GetUserRequest{Id: id}, u)
}

// list calls ListUsers.
func (c rpcCaller) list(req *pb.ListUsersRequest) (*pb.ListUsersResponse, error) {
	resp := new(pb.ListUsersResponse)
	return resp, c.invoke(userservicev1connect.UserServiceListUsersProcedure, req, resp)
}

// create calls CreateUser.
func (c rpcCaller) create(name, email string) (*pb.User, error) {
	u := new(pb.User)
	return u, c.invoke(userservicev1connect.UserServiceCreateUserProcedure,
		&pb.CreateUserRequest{Name: name, Email: email}, u)
}

// update calls UpdateUser.
func (c rpcCaller) update(id int64, name, email string) (*pb.User, error) {
	u := new(pb.User)
	return u, c.invoke(userservicev1connect.UserServiceUpdateUserProcedure,
		&pb.UpdateUserRequest{Id: id, Name: name, Email: email}, u)
}

// remove calls DeleteUser.
func (c rpcCaller) remove(id int64) error {
	return c.invoke(userservicev1connect.UserServiceDeleteUserProcedure, &pb.DeleteUserRequest{Id: id},
		new(pb.DeleteUserResponse))
}

// wantCode fails unless err has gRPC code want and a message containing
// msg.
func wantCode(t *testing.T, what string, err error, want codes.Code, msg string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != want || !strings.Contains(st.Message(), msg) {
		t.Fatalf("%s: %v %q, want %v with a message containing %q", what, st.Code(), st.Message(), want, msg)
	}
}

// wantField fails unless err is InvalidArgument with a
// google.rpc.BadRequest detail naming field.
func wantField(t *testing.T, what string, err error, field, msg string) {
	t.Helper()
	wantCode(t, what, err, codes.InvalidArgument, msg)
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 &&
			br.GetFieldViolations()[0].GetField() == field {
			return
		}
	}
	t.Fatalf("%s: details %v, want a BadRequest naming %q", what, status.Convert(err).Details(), field)
}

// TestGRPCUserService calls every RPC through google.golang.org/grpc and
// checks each of its answers and error codes, and that they are the ones
// REST gives for the same request.
func TestGRPCUserService(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	s.waitReady(t, http.StatusOK, 10*time.Second)
	c := rpcCaller{conn: s.grpcConn(t), token: s.token}

	ada, err := c.create("  Ada Lovelace ", "ａｄａ@example.com")
	if err != nil || ada.GetId() <= 0 || ada.GetName() != "Ada Lovelace" || ada.GetEmail() != "ada@example.com" {
		t.Fatalf("CreateUser: %v %v, want the trimmed name and the NFKC email", ada, err)
	}
	var viaREST user
	s.do(t, "GET", fmt.Sprintf("/api/v1/users/%d", ada.GetId()), "").json(t, &viaREST)
	if viaREST != (user{ada.GetId(), ada.GetName(), ada.GetEmail()}) {
		t.Fatalf("REST reads %+v, gRPC created %v", viaREST, ada)
	}
	_, err = c.create("Ada again", "ADA@example.com")
	wantCode(t, "CreateUser with a taken email", err, codes.AlreadyExists, "a user with this email already exists")
	_, err = c.create(" ", "x@example.com")
	wantField(t, "CreateUser with a blank name", err, "name", "name is required")
	_, err = c.create("X", "x@\u200bexample.com")
	wantField(t, "CreateUser with a zero-width space", err, "email",
		"email must not contain invisible formatting characters")

	got, err := c.get(ada.GetId())
	if err != nil || !proto.Equal(got, ada) {
		t.Fatalf("GetUser: %v %v, want %v", got, err, ada)
	}
	_, err = c.get(ada.GetId() + 1000)
	wantCode(t, "GetUser of a missing id", err, codes.NotFound, "user not found")

	got, err = c.update(ada.GetId(), "Ada King", "ada.king@example.com")
	if err != nil || got.GetName() != "Ada King" || got.GetEmail() != "ada.king@example.com" ||
		got.GetId() != ada.GetId() {
		t.Fatalf("UpdateUser: %v %v", got, err)
	}
	_, err = c.update(ada.GetId()+1000, "Nobody", "nobody@example.com")
	wantCode(t, "UpdateUser of a missing id", err, codes.NotFound, "user not found")
	_, err = c.update(ada.GetId(), "Ada", "not an address")
	wantField(t, "UpdateUser with a bad email", err, "email", "email must be a valid address")
	bob, err := c.create("Bob", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.update(bob.GetId(), "Bob", "ada.king@example.com")
	wantCode(t, "UpdateUser to a taken email", err, codes.AlreadyExists, "already exists")

	if err := c.remove(bob.GetId()); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	wantCode(t, "DeleteUser twice", c.remove(bob.GetId()), codes.NotFound, "user not found")
	_, err = c.get(bob.GetId())
	wantCode(t, "GetUser after DeleteUser", err, codes.NotFound, "user not found")

	metrics := string(s.do(t, "GET", "/metrics", "").body)
	const unary = `grpc_service="userservice.v1.UserService",grpc_type="unary"`
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="CreateUser",` + unary + `} 2`,
		`grpc_server_handled_total{grpc_code="AlreadyExists",grpc_method="UpdateUser",` + unary + `} 1`,
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="DeleteUser",` + unary + `} 1`,
		`grpc_server_handling_seconds_count{grpc_method="GetUser",` + unary + `} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestGRPCListUsers checks ListUsers against GET /api/v1/users: the same
// pages, next_page_token equal to next_after, the same bounds, and errors
// that name the gRPC field.
func TestGRPCListUsers(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	s.waitReady(t, http.StatusOK, 10*time.Second)
	s.seed(t, 25)
	c := rpcCaller{conn: s.grpcConn(t)}

	first, err := c.list(&pb.ListUsersRequest{})
	rest := s.list(t, "")
	if err != nil || len(first.GetUsers()) != 20 || rest.NextAfter == nil ||
		first.GetNextPageToken() != strconv.FormatInt(*rest.NextAfter, 10) {
		t.Fatalf("ListUsers{}: %d users, token %q, %v; REST next_after %v", len(first.GetUsers()),
			first.GetNextPageToken(), err, rest.NextAfter)
	}
	for i, u := range first.GetUsers() {
		if u.GetId() != rest.Users[i].ID || u.GetEmail() != rest.Users[i].Email {
			t.Fatalf("user %d: gRPC %v, REST %+v", i, u, rest.Users[i])
		}
	}
	page3, err := c.list(&pb.ListUsersRequest{Page: 3, Limit: 10})
	if err != nil || len(page3.GetUsers()) != 5 || page3.GetNextPageToken() != "" {
		t.Fatalf("page 3 of 10: %d users, token %q, %v; want the last 5 and no token", len(page3.GetUsers()),
			page3.GetNextPageToken(), err)
	}

	var walked []int64
	req := &pb.ListUsersRequest{Limit: 7, PageToken: "0"}
	for range 10 {
		resp, err := c.list(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.GetUsers() {
			walked = append(walked, u.GetId())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		restPage := s.list(t, "?limit=7&after="+req.PageToken)
		if restPage.NextAfter == nil || strconv.FormatInt(*restPage.NextAfter, 10) != resp.GetNextPageToken() {
			t.Fatalf("after %s: gRPC token %q, REST next_after %v", req.PageToken, resp.GetNextPageToken(), restPage.NextAfter)
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if len(walked) != 25 {
		t.Fatalf("the cursor walked %d users, want 25: %v", len(walked), walked)
	}
	for i := 1; i < len(walked); i++ {
		if walked[i] <= walked[i-1] {
			t.Fatalf("ids not increasing: %v", walked)
		}
	}
	capped, err := c.list(&pb.ListUsersRequest{Limit: 1000})
	if err != nil || len(capped.GetUsers()) != 25 {
		t.Fatalf("limit 1000: %d users, %v; want all 25 (limit capped at 100)", len(capped.GetUsers()), err)
	}

	_, err = c.list(&pb.ListUsersRequest{Limit: -1})
	wantField(t, "limit -1", err, "limit", `limit must be a positive integer (at most 100 is used), got "-1"`)
	_, err = c.list(&pb.ListUsersRequest{Page: -2})
	wantField(t, "page -2", err, "page", `page must be a positive integer, got "-2"`)
	_, err = c.list(&pb.ListUsersRequest{Page: 2, PageToken: "5"})
	wantField(t, "page and page_token", err, "page_token", "use either page or page_token, not both")
	_, err = c.list(&pb.ListUsersRequest{PageToken: "abc"})
	wantField(t, "a bad page_token", err, "page_token", `page_token must be a user id`)
	_, err = c.list(&pb.ListUsersRequest{Page: 101, Limit: 100})
	wantField(t, "a deep page", err, "page",
		"pass page_token=<the last id you have> instead of page, and follow next_page_token")
}

// TestClientPackage drives the real service through pkg/client, the
// client other services import: every call, and the codes it returns.
func TestClientPackage(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	s.waitReady(t, http.StatusOK, 10*time.Second)
	c := client.New("http://"+s.grpcAddr, client.Options{Token: s.token})
	ctx := context.Background()
	ada, err := c.CreateUser(ctx, "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetUser(ctx, ada.GetId()); err != nil || !proto.Equal(got, ada) {
		t.Fatalf("GetUser: %v %v", got, err)
	}
	if _, err := c.UpdateUser(ctx, ada.GetId(), "Ada King", "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	page, err := c.ListUsers(ctx, &pb.ListUsersRequest{PageToken: "0"})
	if err != nil || len(page.GetUsers()) != 1 || page.GetUsers()[0].GetName() != "Ada King" {
		t.Fatalf("ListUsers: %v %v", page, err)
	}
	if _, err := c.CreateUser(ctx, "Ada", "ADA@example.com"); connectrpc.CodeOf(err) != connectrpc.CodeAlreadyExists {
		t.Fatalf("a duplicate: %v", err)
	}
	if _, err := c.CreateUser(ctx, "", "b@example.com"); client.FieldOf(err) != "name" {
		t.Fatalf("a blank name: %v, field %q", err, client.FieldOf(err))
	}
	if err := c.DeleteUser(ctx, ada.GetId()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, ada.GetId()); connectrpc.CodeOf(err) != connectrpc.CodeNotFound {
		t.Fatalf("GetUser after DeleteUser: %v", err)
	}
}
