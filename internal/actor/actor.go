// Package actor carries who is acting, and from where, through a request's
// context, so that domain code can record it (audit) without knowing HTTP.
package actor

import "context"

// Actor is the authenticated caller of one request, or the local operator of
// a CLI command.
type Actor struct {
	UserID     int64  // 0 when anonymous or a system process
	Name       string // user name; "anonymous" with auth off, "system" for background work
	Role       string // admin, editor or viewer
	RequestID  string
	ClientAddr string
}

type key struct{}

// With returns a context that carries a.
func With(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, key{}, a)
}

// From returns the actor in ctx, or a "system" actor when there is none.
func From(ctx context.Context) Actor {
	if a, ok := ctx.Value(key{}).(Actor); ok {
		return a
	}
	return Actor{Name: "system"}
}
