package app

import (
	"context"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/auth"
	"github.com/mlcycle/mlcycle/internal/httpapi"
)

// userAdmin adapts auth.Service to the interface httpapi declares.
type userAdmin struct{ s *auth.Service }

func (u userAdmin) CreateUser(ctx context.Context, name, password, role string) (httpapi.User, error) {
	r, err := auth.ParseRole(role)
	if err != nil {
		return httpapi.User{}, err
	}
	x, err := u.s.CreateUser(ctx, name, password, r)
	return apiUser(x), err
}

func (u userAdmin) ListUsers(ctx context.Context) ([]httpapi.User, error) {
	list, err := u.s.ListUsers(ctx)
	out := make([]httpapi.User, len(list))
	for i, x := range list {
		out[i] = apiUser(x)
	}
	return out, err
}

func (u userAdmin) SetRole(ctx context.Context, name, role string) error {
	r, err := auth.ParseRole(role)
	if err != nil {
		return err
	}
	return u.s.SetRole(ctx, name, r)
}

func (u userAdmin) SetPassword(ctx context.Context, name, pw string) error {
	return u.s.SetPassword(ctx, name, pw)
}

func (u userAdmin) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return u.s.SetDisabled(ctx, name, disabled)
}

func (u userAdmin) DeleteUser(ctx context.Context, name string) error {
	return u.s.DeleteUser(ctx, name)
}

func (u userAdmin) CreateToken(ctx context.Context, user, tokenName string, ttl time.Duration) (string, httpapi.Token, error) {
	secret, t, err := u.s.CreateToken(ctx, user, tokenName, ttl)
	return secret, apiToken(t), err
}

func (u userAdmin) ListTokens(ctx context.Context, user string) ([]httpapi.Token, error) {
	list, err := u.s.ListTokens(ctx, user)
	out := make([]httpapi.Token, len(list))
	for i, t := range list {
		out[i] = apiToken(t)
	}
	return out, err
}

func (u userAdmin) RevokeToken(ctx context.Context, user string, id int64) error {
	return u.s.RevokeToken(ctx, user, id)
}

func apiUser(x auth.User) httpapi.User {
	return httpapi.User{ID: x.ID, Name: x.Name, Role: string(x.Role), Disabled: x.Disabled, CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt}
}

func apiToken(t auth.Token) httpapi.Token {
	return httpapi.Token{ID: t.ID, UserID: t.UserID, UserName: t.UserName, Name: t.Name, Prefix: t.Prefix,
		CreatedAt: t.CreatedAt, ExpiresAt: timePtr(t.ExpiresAt), LastUsedAt: timePtr(t.LastUsedAt)}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// auditLister adapts audit.Log to the interface httpapi declares.
type auditLister struct{ l *audit.Log }

func (a auditLister) ListAudit(ctx context.Context, f httpapi.AuditFilter) ([]httpapi.AuditEntry, error) {
	list, err := a.l.List(ctx, audit.Filter{Actor: f.Actor, Action: f.Action, ResourceType: f.ResourceType,
		ResourceID: f.ResourceID, Outcome: f.Outcome, Since: f.Since, Until: f.Until, AfterSeq: f.AfterSeq, Limit: f.Limit})
	out := make([]httpapi.AuditEntry, len(list))
	for i, e := range list {
		out[i] = httpapi.AuditEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, ActorID: e.ActorID, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Outcome: e.Outcome, RequestID: e.RequestID,
			ClientAddr: e.ClientAddr, Detail: e.Detail, Hash: e.Hash}
	}
	return out, err
}
