package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// CreateSession starts a browser session for a user who has just signed in
// and returns its token (for a cookie) and a CSRF token (for forms). Only a
// hash of the session token is stored. The login itself is audited by
// AuthenticatePassword.
func (s *Service) CreateSession(ctx context.Context, userID int64) (sessionToken, csrfToken string, err error) {
	sessionToken, csrfToken = newSecret(), newSecret()
	now := s.opts.Now()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var disabled int
		err := tx.QueryRow(ctx, `SELECT disabled FROM users WHERE id = ?`, userID).Scan(&disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.E(errs.NotFound, "user %d not found", userID)
		}
		if err != nil {
			return fmt.Errorf("starting session: %w", err)
		}
		if disabled != 0 {
			return errs.E(errs.Unauthorized, "user is disabled")
		}
		// Expired sessions are cleared here, so they cannot pile up.
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, now.UnixMilli()); err != nil {
			return fmt.Errorf("clearing expired sessions: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			hashSecret(sessionToken), userID, csrfToken, now.UnixMilli(), now.Add(s.opts.SessionTTL).UnixMilli()); err != nil {
			return fmt.Errorf("starting session: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return sessionToken, csrfToken, nil
}

// SessionActor returns the user of a session and its CSRF token. A missing
// or expired session, or one of a disabled user, is Unauthorized.
func (s *Service) SessionActor(ctx context.Context, sessionToken string) (actor.Actor, string, error) {
	invalid := errs.E(errs.Unauthorized, "session expired or invalid; sign in again")
	if len(sessionToken) != secretLen {
		return actor.Actor{}, "", invalid
	}
	var csrf string
	var expires int64
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT u.id, u.name, u.role, u.disabled, u.created_at, u.updated_at, s.csrf, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?`, hashSecret(sessionToken)), &csrf, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return actor.Actor{}, "", invalid
	}
	if err != nil {
		return actor.Actor{}, "", fmt.Errorf("checking session: %w", err)
	}
	if s.opts.Now().UnixMilli() >= expires || u.Disabled {
		return actor.Actor{}, "", invalid
	}
	return actorFor(ctx, u, ""), csrf, nil
}

// DeleteSession ends a session (sign out). Ending one that does not exist
// is not an error: the result is the same.
func (s *Service) DeleteSession(ctx context.Context, sessionToken string) error {
	hash := hashSecret(sessionToken)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT u.id, u.name, u.role, u.disabled, u.created_at, u.updated_at
			FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ending session: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
			return fmt.Errorf("ending session: %w", err)
		}
		// The session's owner signs out, whoever the context says is acting.
		actx := actor.With(ctx, actorFor(ctx, u, ""))
		return s.log.Record(actx, tx, audit.Event{Action: "session.logout", ResourceType: "user", ResourceID: u.Name})
	})
}
