package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// User is an account on the server.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"` // admin, editor or viewer
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UserUpdate holds the fields to change; nil fields stay as they are.
type UserUpdate struct {
	Role     *string `json:"role,omitempty"`
	Password *string `json:"password,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// Token describes an API token; its secret is only ever in NewToken.
type Token struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	UserName   string     `json:"user_name"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// NewToken is a token just created, with its secret (shown once).
type NewToken struct {
	Secret string `json:"secret"`
	Token  Token  `json:"token"`
}

// Me is the caller as the server sees it.
type Me struct {
	UserID      int64  `json:"user_id"`
	Name        string `json:"name"`
	Role        string `json:"role"`
	AuthEnabled bool   `json:"auth_enabled"`
}

// WhoAmI returns the authenticated caller.
func (c *Client) WhoAmI(ctx context.Context) (Me, error) {
	var m Me
	err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, nil, &m)
	return m, err
}

// CreateUser creates a user (admins only).
func (c *Client) CreateUser(ctx context.Context, name, password, role string) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	in := map[string]string{"name": name, "password": password, "role": role}
	err := c.do(ctx, http.MethodPost, "/api/v1/users", nil, in, &out)
	return out.User, err
}

// ListUsers lists every user (admins only).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var out struct {
		Users []User `json:"users"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/users", nil, nil, &out)
	return out.Users, err
}

// UpdateUser changes a user's role, password or disabled flag (admins only).
func (c *Client) UpdateUser(ctx context.Context, name string, u UserUpdate) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.do(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(name), nil, u, &out)
	return out.User, err
}

// DeleteUser deletes a user and their tokens (admins only).
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/users/"+url.PathEscape(name), nil, nil, nil)
}

// CreateToken creates a token for userName ("" = the caller; another user
// needs an admin). ttl 0 means no expiry.
func (c *Client) CreateToken(ctx context.Context, userName, tokenName string, ttl time.Duration) (NewToken, error) {
	in := map[string]any{"name": tokenName, "ttl_seconds": int64(ttl / time.Second)}
	if userName != "" {
		in["user"] = userName
	}
	var out NewToken
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, in, &out)
	return out, err
}

// ListTokens lists userName's tokens ("" = the caller's).
func (c *Client) ListTokens(ctx context.Context, userName string) ([]Token, error) {
	q := url.Values{}
	if userName != "" {
		q.Set("user", userName)
	}
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", q, nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes a token by ID; userName may narrow it to an owner.
func (c *Client) RevokeToken(ctx context.Context, userName string, id int64) error {
	q := url.Values{}
	if userName != "" {
		q.Set("user", userName)
	}
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+strconv.FormatInt(id, 10), q, nil, nil)
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	Actor        string
	Action       string // exact, or a prefix with a trailing '*'
	ResourceType string
	ResourceID   string
	Outcome      string
	Since, Until time.Time
	AfterSeq     int64
	Limit        int
}

// AuditEntry is one audit event.
type AuditEntry struct {
	Seq          int64          `json:"seq"`
	Time         time.Time      `json:"time"`
	Actor        string         `json:"actor"`
	ActorID      int64          `json:"actor_id"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Outcome      string         `json:"outcome"`
	RequestID    string         `json:"request_id"`
	ClientAddr   string         `json:"client_addr"`
	Detail       map[string]any `json:"detail,omitempty"`
	Hash         string         `json:"hash"`
}

// ListAudit lists audit events in sequence order (admins only).
func (c *Client) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("actor", f.Actor)
	set("action", f.Action)
	set("resource_type", f.ResourceType)
	set("resource_id", f.ResourceID)
	set("outcome", f.Outcome)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.AfterSeq > 0 {
		q.Set("after_seq", strconv.FormatInt(f.AfterSeq, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Entries []AuditEntry `json:"entries"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/audit", q, nil, &out)
	return out.Entries, err
}
