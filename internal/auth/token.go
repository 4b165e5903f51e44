package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// TokenPrefix starts every API token, so that secret scanners and people
// can tell what it is.
const TokenPrefix = "mlc_"

const (
	tokenLen       = len(TokenPrefix) + secretLen
	shownPrefixLen = 8 // characters after TokenPrefix kept to tell tokens apart
	maxTokenName   = 100
	// lastUsedEvery limits last_used_at writes to one a minute per token,
	// not one per request.
	lastUsedEvery = time.Minute
)

// Token describes an API token. The secret itself is never stored.
type Token struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	UserName   string    `json:"user_name"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"` // the first characters after "mlc_"
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`   // zero: never
	LastUsedAt time.Time `json:"last_used_at,omitzero"` // zero: not yet
}

// CreateToken creates an API token for a user and returns its plaintext,
// which cannot be shown again. ttl 0 means it never expires.
func (s *Service) CreateToken(ctx context.Context, userName, tokenName string, ttl time.Duration) (string, Token, error) {
	tokenName = strings.TrimSpace(tokenName)
	if tokenName == "" || utf8.RuneCountInString(tokenName) > maxTokenName || !utf8.ValidString(tokenName) || strings.ContainsRune(tokenName, 0) {
		return "", Token{}, errs.E(errs.Invalid, "token name must be 1-%d characters", maxTokenName)
	}
	if ttl < 0 {
		return "", Token{}, errs.E(errs.Invalid, "token lifetime must not be negative (0 means no expiry)")
	}
	plain := TokenPrefix + newSecret()
	now := s.opts.Now()
	t := Token{Name: tokenName, Prefix: plain[len(TokenPrefix) : len(TokenPrefix)+shownPrefixLen], CreatedAt: msTime(now.UnixMilli())}
	var expires sql.NullInt64
	if ttl > 0 {
		expires = sql.NullInt64{Int64: now.Add(ttl).UnixMilli(), Valid: true}
		t.ExpiresAt = msTime(expires.Int64)
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := getUser(ctx, tx, userName)
		if err != nil {
			return err
		}
		t.UserID, t.UserName = u.ID, u.Name
		if err := tx.QueryRow(ctx, `INSERT INTO api_tokens (user_id, name, prefix, hash, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			u.ID, t.Name, t.Prefix, hashSecret(plain), now.UnixMilli(), expires).Scan(&t.ID); err != nil {
			return fmt.Errorf("creating token for %q: %w", userName, err)
		}
		detail := map[string]any{"user": u.Name, "name": t.Name, "prefix": t.Prefix}
		if expires.Valid {
			detail["expires_at"] = t.ExpiresAt.Format(time.RFC3339)
		}
		return s.log.Record(ctx, tx, audit.Event{Action: "token.create", ResourceType: "token", ResourceID: strconv.FormatInt(t.ID, 10), Detail: detail})
	})
	if err != nil {
		return "", Token{}, err
	}
	return plain, t, nil
}

// ListTokens returns a user's tokens, oldest first, without secrets. An
// empty userName lists every user's tokens (for admins).
func (s *Service) ListTokens(ctx context.Context, userName string) ([]Token, error) {
	q := `SELECT t.id, t.user_id, u.name, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id`
	var args []any
	if userName != "" {
		u, err := getUser(ctx, s.db, userName)
		if err != nil {
			return nil, err
		}
		q += ` WHERE t.user_id = ?`
		args = append(args, u.ID)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	tokens := []Token{}
	for rows.Next() {
		var t Token
		var created int64
		var expires, used sql.NullInt64
		if err := rows.Scan(&t.ID, &t.UserID, &t.UserName, &t.Name, &t.Prefix, &created, &expires, &used); err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		t.CreatedAt = msTime(created)
		if expires.Valid {
			t.ExpiresAt = msTime(expires.Int64)
		}
		if used.Valid {
			t.LastUsedAt = msTime(used.Int64)
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken deletes a token; it stops working at once. With a userName
// the token must belong to that user; an empty one revokes any user's token
// (for admins).
func (s *Service) RevokeToken(ctx context.Context, userName string, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var owner, name, prefix string
		err := tx.QueryRow(ctx, `SELECT u.name, t.name, t.prefix FROM api_tokens t JOIN users u ON u.id = t.user_id
			WHERE t.id = ?`, id).Scan(&owner, &name, &prefix)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && userName != "" && owner != userName) {
			if userName != "" {
				return errs.E(errs.NotFound, "token %d of user %q not found", id, userName)
			}
			return errs.E(errs.NotFound, "token %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("revoking token %d: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM api_tokens WHERE id = ?`, id); err != nil {
			return fmt.Errorf("revoking token %d: %w", id, err)
		}
		return s.log.Record(ctx, tx, audit.Event{Action: "token.revoke", ResourceType: "token", ResourceID: strconv.FormatInt(id, 10),
			Detail: map[string]any{"user": owner, "name": name, "prefix": prefix}})
	})
}

// AuthenticateToken returns the actor an API token stands for. An unknown,
// revoked or expired token, or one of a disabled user, is Unauthorized.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (actor.Actor, error) {
	invalid := errs.E(errs.Unauthorized, "invalid or expired API token")
	if len(token) != tokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return actor.Actor{}, invalid
	}
	var (
		id            int64
		expires, used sql.NullInt64
	)
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT u.id, u.name, u.role, u.disabled, u.created_at, u.updated_at,
		t.id, t.expires_at, t.last_used_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, hashSecret(token)),
		&id, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return actor.Actor{}, invalid
	}
	if err != nil {
		return actor.Actor{}, fmt.Errorf("checking API token: %w", err)
	}
	now := s.opts.Now().UnixMilli()
	if expires.Valid && now >= expires.Int64 || u.Disabled {
		return actor.Actor{}, invalid
	}
	if cutoff := now - lastUsedEvery.Milliseconds(); !used.Valid || used.Int64 <= cutoff {
		// Best effort: bookkeeping must not refuse a valid token, so a
		// failed write is dropped; the next request tries again.
		_, _ = s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`, now, id, cutoff)
	}
	return actorFor(ctx, u, ""), nil
}
