package auth

import "github.com/mlcycle/mlcycle/internal/store"

// Migrations returns the auth tables. Run them after audit.Migrations: every
// change here is recorded there. Tokens and sessions are stored as SHA-256
// hashes only; disabled is INTEGER 0/1 so the SQL is the same on both engines.
func Migrations() []store.Migration {
	return []store.Migration{
		{ID: "auth/0001_users", SQL: `
CREATE TABLE users (
	id            {{id}},
	name          TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	role          TEXT NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);
-- "Alice" and "alice" would be two users that look alike in every listing.
CREATE UNIQUE INDEX users_name_lower ON users (lower(name));
CREATE TABLE api_tokens (
	id           {{id}},
	user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,
	hash         TEXT NOT NULL UNIQUE,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT,
	last_used_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE TABLE sessions (
	hash       TEXT PRIMARY KEY,
	user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
`},
	}
}
