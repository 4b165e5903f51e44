package cli

import (
	"context"
	"time"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/auth"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// localAdmin works directly on the database, for an operator on the
// server's machine (and to create the first admin before any login exists).
type localAdmin struct{ l *app.Local }

func (a localAdmin) CreateUser(ctx context.Context, name, password, role string) (client.User, error) {
	r, err := auth.ParseRole(role)
	if err != nil {
		return client.User{}, err
	}
	u, err := a.l.Auth.CreateUser(ctx, name, password, r)
	return clientUser(u), err
}

func (a localAdmin) ListUsers(ctx context.Context) ([]client.User, error) {
	list, err := a.l.Auth.ListUsers(ctx)
	out := make([]client.User, len(list))
	for i, u := range list {
		out[i] = clientUser(u)
	}
	return out, err
}

// UpdateUser validates every field before changing any, so a bad role does
// not leave a new password behind.
func (a localAdmin) UpdateUser(ctx context.Context, name string, up client.UserUpdate) (client.User, error) {
	var role auth.Role
	if up.Role != nil {
		var err error
		if role, err = auth.ParseRole(*up.Role); err != nil {
			return client.User{}, err
		}
	}
	if _, err := a.l.Auth.GetUser(ctx, name); err != nil {
		return client.User{}, err
	}
	if up.Role != nil {
		if err := a.l.Auth.SetRole(ctx, name, role); err != nil {
			return client.User{}, err
		}
	}
	if up.Password != nil {
		if err := a.l.Auth.SetPassword(ctx, name, *up.Password); err != nil {
			return client.User{}, err
		}
	}
	if up.Disabled != nil {
		if err := a.l.Auth.SetDisabled(ctx, name, *up.Disabled); err != nil {
			return client.User{}, err
		}
	}
	u, err := a.l.Auth.GetUser(ctx, name)
	return clientUser(u), err
}

func (a localAdmin) DeleteUser(ctx context.Context, name string) error {
	return a.l.Auth.DeleteUser(ctx, name)
}

func (a localAdmin) CreateToken(ctx context.Context, userName, tokenName string, ttl time.Duration) (client.NewToken, error) {
	if userName == "" {
		return client.NewToken{}, errs.E(errs.Invalid, "--user is required when working on the database directly")
	}
	secret, t, err := a.l.Auth.CreateToken(ctx, userName, tokenName, ttl)
	return client.NewToken{Secret: secret, Token: clientToken(t)}, err
}

func (a localAdmin) ListTokens(ctx context.Context, userName string) ([]client.Token, error) {
	list, err := a.l.Auth.ListTokens(ctx, userName)
	out := make([]client.Token, len(list))
	for i, t := range list {
		out[i] = clientToken(t)
	}
	return out, err
}

func (a localAdmin) RevokeToken(ctx context.Context, userName string, id int64) error {
	return a.l.Auth.RevokeToken(ctx, userName, id)
}

func (a localAdmin) ListAudit(ctx context.Context, f client.AuditFilter) ([]client.AuditEntry, error) {
	list, err := a.l.Audit.List(ctx, audit.Filter{Actor: f.Actor, Action: f.Action, ResourceType: f.ResourceType,
		ResourceID: f.ResourceID, Outcome: f.Outcome, Since: f.Since, Until: f.Until, AfterSeq: f.AfterSeq, Limit: f.Limit})
	out := make([]client.AuditEntry, len(list))
	for i, e := range list {
		out[i] = client.AuditEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, ActorID: e.ActorID, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Outcome: e.Outcome, RequestID: e.RequestID,
			ClientAddr: e.ClientAddr, Detail: e.Detail, Hash: e.Hash}
	}
	return out, err
}

func clientUser(u auth.User) client.User {
	return client.User{ID: u.ID, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func clientToken(t auth.Token) client.Token {
	ct := client.Token{ID: t.ID, UserID: t.UserID, UserName: t.UserName, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt}
	if !t.ExpiresAt.IsZero() {
		ct.ExpiresAt = &t.ExpiresAt
	}
	if !t.LastUsedAt.IsZero() {
		ct.LastUsedAt = &t.LastUsedAt
	}
	return ct
}
