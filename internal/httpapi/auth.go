package httpapi

import (
	"context"
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// Authenticator turns credentials into an actor. Failures are errs kinds:
// Unauthorized for bad credentials, TooMany when rate limited.
type Authenticator interface {
	AuthenticateToken(ctx context.Context, token string) (actor.Actor, error)
	AuthenticatePassword(ctx context.Context, user, pass, clientAddr string) (actor.Actor, error)
	// SessionActor resolves a UI session and returns its CSRF token.
	SessionActor(ctx context.Context, sessionToken string) (a actor.Actor, csrf string, err error)
}

// UserAdmin manages users and API tokens.
type UserAdmin interface {
	CreateUser(ctx context.Context, name, password, role string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	SetRole(ctx context.Context, name, role string) error
	SetPassword(ctx context.Context, name, password string) error
	SetDisabled(ctx context.Context, name string, disabled bool) error
	DeleteUser(ctx context.Context, name string) error
	// CreateToken returns the secret, shown once, and the token's record.
	CreateToken(ctx context.Context, user, tokenName string, ttl time.Duration) (string, Token, error)
	ListTokens(ctx context.Context, user string) ([]Token, error)
	// RevokeToken revokes token id owned by user; user "" means any owner
	// (the API passes it only for admins). A token of another owner is
	// NotFound.
	RevokeToken(ctx context.Context, user string, id int64) error
}

// User is the API view of a user account.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Token is the API view of an API token; the secret is never part of it.
type Token struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	UserName   string     `json:"user_name"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"` // first characters of the secret, to recognise it
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// authenticate finds the caller of r. It returns nil and no error when the
// request carries no credentials. Credentials that are present but wrong are
// an error, never a silent fall-back to another method. checkCSRF demands
// the session's CSRF token on unsafe methods with cookie authentication.
func (a *API) authenticate(r *http.Request, checkCSRF bool) (*actor.Actor, error) {
	id, addr := stateOf(r).id, clientAddr(r)
	if a.auth == nil {
		return &actor.Actor{Name: "anonymous", Role: RoleAdmin, RequestID: id, ClientAddr: addr}, nil
	}
	ctx := r.Context()
	var (
		act actor.Actor
		err error
	)
	if h := r.Header.Get("Authorization"); h != "" {
		act, err = a.authHeader(r, h, addr)
	} else if c, cerr := r.Cookie(SessionCookie); cerr == nil && c.Value != "" {
		var csrf string
		act, csrf, err = a.auth.SessionActor(ctx, c.Value)
		if err == nil && checkCSRF && !safeMethod(r.Method) && !csrfMatches(r, csrf) {
			err = errs.E(errs.Forbidden, "missing or invalid CSRF token; send it in the X-CSRF-Token header")
		}
	} else {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	act.RequestID, act.ClientAddr = id, addr
	return &act, nil
}

func (a *API) authHeader(r *http.Request, h, addr string) (actor.Actor, error) {
	ctx := r.Context()
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		if cred == "" {
			return actor.Actor{}, errs.E(errs.Unauthorized, "empty bearer token")
		}
		return a.auth.AuthenticateToken(ctx, cred)
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return actor.Actor{}, errs.E(errs.Unauthorized, "malformed basic credentials")
		}
		// MLflow users put a token in MLFLOW_TRACKING_PASSWORD with any user
		// name. Try the token first: it is a cheap lookup, and a failed
		// password attempt would count against the user's login rate limit
		// on every request.
		if pass != "" {
			act, err := a.auth.AuthenticateToken(ctx, pass)
			if code := errs.CodeOf(err); code != errs.Unauthorized && code != errs.Invalid {
				return act, err
			}
		}
		return a.auth.AuthenticatePassword(ctx, user, pass, addr)
	}
	return actor.Actor{}, errs.E(errs.Unauthorized, "unsupported authorization scheme; use Bearer or Basic")
}

// csrfMatches compares the request's CSRF token, from the X-CSRF-Token header
// or a urlencoded form field csrf_token, with the session's.
func csrfMatches(r *http.Request, want string) bool {
	if want == "" {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		// Only urlencoded forms: parsing multipart would buffer an upload.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			got = r.PostFormValue("csrf_token")
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// clientAddr is the peer's IP. Forwarding headers are not trusted: any
// client could set them.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
