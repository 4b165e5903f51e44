package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
)

type whoamiResponse struct {
	UserID      int64  `json:"user_id"`
	Name        string `json:"name"`
	Role        string `json:"role"`
	AuthEnabled bool   `json:"auth_enabled"`
}

func (a *API) whoami(r *http.Request) (any, error) {
	act := actor.From(r.Context())
	return whoamiResponse{UserID: act.UserID, Name: act.Name, Role: act.Role, AuthEnabled: a.auth != nil}, nil
}

type userResponse struct {
	User User `json:"user"`
}

type usersResponse struct {
	Users []User `json:"users"`
}

func (a *API) listUsers(r *http.Request) (any, error) {
	users, err := a.userAdmin()
	if err != nil {
		return nil, err
	}
	list, err := users.ListUsers(r.Context())
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []User{}
	}
	return usersResponse{Users: list}, nil
}

type createUserRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     string `json:"role"` // default viewer
}

func (a *API) createUser(r *http.Request) (any, error) {
	users, err := a.userAdmin()
	if err != nil {
		return nil, err
	}
	var req createUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, errs.E(errs.Invalid, "name is required")
	}
	if req.Password == "" {
		return nil, errs.E(errs.Invalid, "password is required")
	}
	if req.Role == "" {
		req.Role = RoleViewer
	}
	if err := checkRole(req.Role); err != nil {
		return nil, err
	}
	u, err := users.CreateUser(r.Context(), req.Name, req.Password, req.Role)
	if err != nil {
		return nil, err
	}
	return created(userResponse{User: u}), nil
}

// updateUserRequest holds the fields to change; absent fields stay as they are.
type updateUserRequest struct {
	Role     *string `json:"role"`
	Password *string `json:"password"`
	Disabled *bool   `json:"disabled"`
}

func (a *API) updateUser(r *http.Request) (any, error) {
	users, err := a.userAdmin()
	if err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	var req updateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	// Validate everything before changing anything, so a bad field does not
	// leave a half-applied update.
	switch {
	case req.Role == nil && req.Password == nil && req.Disabled == nil:
		return nil, errs.E(errs.Invalid, "nothing to update; set role, password or disabled")
	case req.Password != nil && *req.Password == "":
		return nil, errs.E(errs.Invalid, "password must not be empty")
	case req.Role != nil:
		if err := checkRole(*req.Role); err != nil {
			return nil, err
		}
	}
	ctx := r.Context()
	if req.Role != nil {
		if err := users.SetRole(ctx, name, *req.Role); err != nil {
			return nil, err
		}
	}
	if req.Password != nil {
		if err := users.SetPassword(ctx, name, *req.Password); err != nil {
			return nil, err
		}
	}
	if req.Disabled != nil {
		if err := users.SetDisabled(ctx, name, *req.Disabled); err != nil {
			return nil, err
		}
	}
	list, err := users.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range list {
		if u.Name == name {
			return userResponse{User: u}, nil
		}
	}
	return nil, errs.E(errs.NotFound, "user %q does not exist", name)
}

func (a *API) deleteUser(r *http.Request) (any, error) {
	users, err := a.userAdmin()
	if err != nil {
		return nil, err
	}
	return nil, users.DeleteUser(r.Context(), r.PathValue("name"))
}

func checkRole(role string) error {
	if roleRank(role) == 0 {
		return errs.E(errs.Invalid, "role must be admin, editor or viewer, not %q", role)
	}
	return nil
}

// tokenOwner decides whose tokens a request may touch: the caller's own, or
// anyone's for an admin who names the user.
func tokenOwner(act actor.Actor, user string) (string, error) {
	if user == "" || user == act.Name {
		return act.Name, nil
	}
	if act.Role != RoleAdmin {
		return "", errs.E(errs.Forbidden, "only admins may manage another user's tokens")
	}
	return user, nil
}

type tokensResponse struct {
	Tokens []Token `json:"tokens"`
}

func (a *API) listTokens(r *http.Request) (any, error) {
	users, err := a.userAdmin()
	if err != nil {
		return nil, err
	}
	q, err := strictQuery(r)
	if err != nil {
		return nil, err
	}
	owner, err := tokenOwner(actor.From(r.Context()), q.Get("user"))
	if err != nil {
		return nil, err
	}
	list, err := users.ListTokens(r.Context(), owner)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []Token{}
	}
	return tokensResponse{Tokens: list}, nil
}

type createTokenRequest struct {
	Name       string `json:"name"`
	TTLSeconds int64  `json:"ttl_seconds"` // 0: the server's default
	User       string `json:"user"`        // admins only; default the caller
}

type createTokenResponse struct {
	Secret string `json:"secret"` // shown once; only a hash is stored
	Token  Token  `json:"token"`
}

// maxTokenTTL keeps ttl_seconds from overflowing time.Duration.
const maxTokenTTL = 100 * 365 * 24 * time.Hour

func (a *API) createToken(r *http.Request) (any, error) {
	users, err := a.userAdmin()
	if err != nil {
		return nil, err
	}
	var req createTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, errs.E(errs.Invalid, "name is required")
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(maxTokenTTL/time.Second) {
		return nil, errs.E(errs.Invalid, "ttl_seconds must be between 0 and %d", int64(maxTokenTTL/time.Second))
	}
	owner, err := tokenOwner(actor.From(r.Context()), req.User)
	if err != nil {
		return nil, err
	}
	secret, tok, err := users.CreateToken(r.Context(), owner, req.Name, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	return created(createTokenResponse{Secret: secret, Token: tok}), nil
}

func (a *API) revokeToken(r *http.Request) (any, error) {
	users, err := a.userAdmin()
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errs.E(errs.Invalid, "token id must be a positive integer")
	}
	act := actor.From(r.Context())
	owner := act.Name
	if act.Role == RoleAdmin {
		q, err := strictQuery(r)
		if err != nil {
			return nil, err
		}
		owner = q.Get("user") // "" = any owner
	}
	return nil, users.RevokeToken(r.Context(), owner, id)
}
