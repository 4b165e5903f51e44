package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/app"
)

// admin is what the users, tokens and audit commands need. Two things
// implement it: the Go client (over the REST API of a running server, with
// --server) and localAdmin (directly on the database, no server needed).
type admin interface {
	CreateUser(ctx context.Context, name, password, role string) (client.User, error)
	ListUsers(ctx context.Context) ([]client.User, error)
	UpdateUser(ctx context.Context, name string, u client.UserUpdate) (client.User, error)
	DeleteUser(ctx context.Context, name string) error
	CreateToken(ctx context.Context, userName, tokenName string, ttl time.Duration) (client.NewToken, error)
	ListTokens(ctx context.Context, userName string) ([]client.Token, error)
	RevokeToken(ctx context.Context, userName string, id int64) error
	ListAudit(ctx context.Context, f client.AuditFilter) ([]client.AuditEntry, error)
}

// target holds the flags that choose between a server and the local database.
type target struct {
	cfg      app.Config
	server   string
	token    string
	username string
	password string
}

func addTargetFlags(cmd *cobra.Command, t *target) {
	addStoreFlags(cmd, &t.cfg)
	f := cmd.Flags()
	f.StringVar(&t.server, "server", "", "URL of a running mlcycle server; without it the command works directly on the database of --data-dir or --db")
	f.StringVar(&t.token, "token", "", "API token for --server")
	f.StringVar(&t.username, "username", "", "user name for --server (with --password)")
	f.StringVar(&t.password, "password", "", "password for --server (prefer the MLCYCLE_PASSWORD environment variable)")
}

// open returns the admin for t and a function that releases it. Local
// commands act as an admin named after the operating-system user, so the
// audit log says who ran them.
func (t *target) open(ctx context.Context) (context.Context, admin, func(), error) {
	if t.server != "" {
		var opts []client.Option
		switch {
		case t.token != "":
			opts = append(opts, client.WithToken(t.token))
		case t.username != "":
			opts = append(opts, client.WithBasicAuth(t.username, t.password))
		}
		c, err := client.New(t.server, opts...)
		if err != nil {
			return ctx, nil, nil, err
		}
		return ctx, c, func() {}, nil
	}
	l, err := app.OpenLocal(ctx, t.cfg)
	if err != nil {
		return ctx, nil, nil, err
	}
	name := "local"
	if u, err := user.Current(); err == nil {
		name = "local:" + u.Username
	}
	host, _ := os.Hostname()
	ctx = actor.With(ctx, actor.Actor{Name: name, Role: "admin", ClientAddr: "cli@" + host})
	return ctx, localAdmin{l}, func() { l.Close() }, nil
}

// run opens the target, calls fn, and releases it.
func (t *target) run(cmd *cobra.Command, fn func(ctx context.Context, a admin) error) error {
	ctx, a, done, err := t.open(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	return fn(ctx, a)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func itoa(n int64) string { return fmt.Sprint(n) }
