// Package auth manages users, their roles, API tokens and browser sessions,
// and checks credentials. Every change is recorded in the audit log in the
// same transaction.
//
// Authorization decisions (which role an endpoint needs) belong to the HTTP
// layer, which asks Role.Allows.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// Options tune a Service. Zero fields take the defaults noted.
type Options struct {
	Now           func() time.Time // time.Now
	SessionTTL    time.Duration    // 12h
	MaxFailures   int              // 5 failed logins ...
	FailureWindow time.Duration    // ... within 15m, per user name or per client address ...
	LockoutTime   time.Duration    // ... lock that name or address out for 15m
	HashParams    HashParams       // DefaultHashParams(); lighter only in tests
}

// Service is the auth API over the database.
type Service struct {
	db      *store.DB
	log     *audit.Log
	opts    Options
	limiter *limiter

	dummyOnce sync.Once
	dummyHash string
}

// New returns a Service over db, which must have audit.Migrations and
// Migrations applied.
func New(db *store.DB, log *audit.Log, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 5
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = 15 * time.Minute
	}
	if opts.LockoutTime <= 0 {
		opts.LockoutTime = 15 * time.Minute
	}
	if opts.HashParams == (HashParams{}) {
		opts.HashParams = DefaultHashParams()
	}
	p := &opts.HashParams
	p.Time = max(p.Time, 1)
	p.Threads = max(p.Threads, 1)
	p.Memory = max(p.Memory, 8*uint32(p.Threads)) // argon2's own minimum
	return &Service{
		db:      db,
		log:     log,
		opts:    opts,
		limiter: newLimiter(opts.MaxFailures, opts.FailureWindow, opts.LockoutTime),
	}
}

// User is an account. The password hash never leaves the package.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// usersLock serialises changes that could leave no enabled admin, which
// two concurrent transactions could otherwise do together on PostgreSQL.
const usersLock = "mlcycle.auth.users"

const userCols = `id, name, role, disabled, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(s scanner, extra ...any) (User, error) {
	var u User
	var disabled int
	var created, updated int64
	dest := append([]any{&u.ID, &u.Name, &u.Role, &disabled, &created, &updated}, extra...)
	if err := s.Scan(dest...); err != nil {
		return User{}, err
	}
	u.Disabled = disabled != 0
	u.CreatedAt, u.UpdatedAt = msTime(created), msTime(updated)
	return u, nil
}

func getUser(ctx context.Context, q store.Querier, name string) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errs.E(errs.NotFound, "user %q not found", name)
	}
	if err != nil {
		return User{}, fmt.Errorf("reading user %q: %w", name, err)
	}
	return u, nil
}

// checkName allows 1-64 of [a-zA-Z0-9._@-], starting with a letter or digit.
func checkName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		ok = alnum || i > 0 && strings.IndexByte("._@-", c) >= 0
	}
	if !ok {
		return errs.E(errs.Invalid, "invalid user name %q: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

func checkRole(r Role) error {
	if r.rank() == 0 {
		return errs.E(errs.Invalid, "unknown role %q: use admin, editor or viewer", r)
	}
	return nil
}

// CreateUser adds a user.
func (s *Service) CreateUser(ctx context.Context, name, password string, role Role) (User, error) {
	if err := checkName(name); err != nil {
		return User{}, err
	}
	if err := checkRole(role); err != nil {
		return User{}, err
	}
	if err := checkPassword(password); err != nil {
		return User{}, err
	}
	// Hash before the transaction: it is slow and would hold the writer.
	hash := hashPassword(password, s.opts.HashParams)
	var u User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		u, err = s.insertUser(ctx, tx, name, hash, role)
		if err != nil {
			return err
		}
		return s.log.Record(ctx, tx, userEvent("user.create", name, map[string]any{"role": role}))
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

func (s *Service) insertUser(ctx context.Context, tx *store.Tx, name, hash string, role Role) (User, error) {
	now := s.opts.Now()
	u := User{Name: name, Role: role, CreatedAt: msTime(now.UnixMilli()), UpdatedAt: msTime(now.UnixMilli())}
	err := tx.QueryRow(ctx, `INSERT INTO users (name, password_hash, role, disabled, created_at, updated_at)
		VALUES (?, ?, ?, 0, ?, ?) RETURNING id`, name, hash, string(role), now.UnixMilli(), now.UnixMilli()).Scan(&u.ID)
	if store.IsUniqueViolation(err) {
		return User{}, errs.E(errs.Conflict, "user %q already exists (user names are unique ignoring case)", name)
	}
	if err != nil {
		return User{}, fmt.Errorf("creating user %q: %w", name, err)
	}
	return u, nil
}

// GetUser returns the named user.
func (s *Service) GetUser(ctx context.Context, name string) (User, error) {
	return getUser(ctx, s.db, name)
}

// ListUsers returns every user by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("listing users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return users, nil
}

// HasUsers reports whether any user exists (auth is not yet set up when
// none does).
func (s *Service) HasUsers(ctx context.Context) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM users LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking for users: %w", err)
	}
	return true, nil
}

// EnsureAdmin creates an admin with name and password when there is no user
// at all, for a first start configured from the environment. Once any user
// exists it does nothing, so a changed password in the environment never
// overrides one set through the API.
func (s *Service) EnsureAdmin(ctx context.Context, name, password string) (created bool, err error) {
	if has, err := s.HasUsers(ctx); err != nil || has {
		return false, err
	}
	if err := checkName(name); err != nil {
		return false, err
	}
	if err := checkPassword(password); err != nil {
		return false, err
	}
	hash := hashPassword(password, s.opts.HashParams)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, usersLock); err != nil {
			return err
		}
		// Again under the lock: another replica may have won the race.
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return fmt.Errorf("counting users: %w", err)
		}
		if n > 0 {
			return nil
		}
		if _, err := s.insertUser(ctx, tx, name, hash, Admin); err != nil {
			return err
		}
		created = true
		return s.log.Record(ctx, tx, userEvent("user.create", name, map[string]any{"role": Admin, "initial_admin": true}))
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// SetPassword replaces a user's password and ends their browser sessions.
// API tokens stay valid: revoke them separately.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash := hashPassword(password, s.opts.HashParams)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := getUser(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
			hash, s.opts.Now().UnixMilli(), u.ID); err != nil {
			return fmt.Errorf("setting password of %q: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID); err != nil {
			return fmt.Errorf("ending sessions of %q: %w", name, err)
		}
		return s.log.Record(ctx, tx, userEvent("user.update", name, map[string]any{"password": "changed"}))
	})
}

// SetRole changes a user's role. It refuses to demote the last enabled admin.
func (s *Service) SetRole(ctx context.Context, name string, role Role) error {
	if err := checkRole(role); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.lockUser(ctx, tx, name)
		if err != nil {
			return err
		}
		if role != Admin {
			if err := s.keepAnAdmin(ctx, tx, u, "demote"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE id = ?`,
			string(role), s.opts.Now().UnixMilli(), u.ID); err != nil {
			return fmt.Errorf("setting role of %q: %w", name, err)
		}
		return s.log.Record(ctx, tx, userEvent("user.update", name, map[string]any{"role": role, "previous_role": u.Role}))
	})
}

// SetDisabled disables or re-enables a user. Disabling ends their sessions
// and makes their tokens fail; it refuses to disable the last enabled admin.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.lockUser(ctx, tx, name)
		if err != nil {
			return err
		}
		flag := 0
		if disabled {
			flag = 1
			if err := s.keepAnAdmin(ctx, tx, u, "disable"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID); err != nil {
				return fmt.Errorf("ending sessions of %q: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?`,
			flag, s.opts.Now().UnixMilli(), u.ID); err != nil {
			return fmt.Errorf("updating user %q: %w", name, err)
		}
		return s.log.Record(ctx, tx, userEvent("user.update", name, map[string]any{"disabled": disabled}))
	})
}

// DeleteUser deletes a user with their tokens and sessions. It refuses to
// delete the last enabled admin.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.lockUser(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := s.keepAnAdmin(ctx, tx, u, "delete"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = ?`, u.ID); err != nil {
			return fmt.Errorf("deleting user %q: %w", name, err)
		}
		return s.log.Record(ctx, tx, userEvent("user.delete", name, map[string]any{"role": u.Role}))
	})
}

// lockUser takes the users lock and reads the user under it.
func (s *Service) lockUser(ctx context.Context, tx *store.Tx, name string) (User, error) {
	if err := tx.Lock(ctx, usersLock); err != nil {
		return User{}, err
	}
	return getUser(ctx, tx, name)
}

// keepAnAdmin refuses a change that takes u away as an enabled admin when
// no other enabled admin exists. Call it under usersLock.
func (s *Service) keepAnAdmin(ctx context.Context, tx *store.Tx, u User, verb string) error {
	if u.Role != Admin || u.Disabled {
		return nil
	}
	var others int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE role = ? AND disabled = 0 AND id <> ?`,
		string(Admin), u.ID).Scan(&others); err != nil {
		return fmt.Errorf("counting admins: %w", err)
	}
	if others == 0 {
		return errs.E(errs.State, "cannot %s %q: it is the last enabled admin; make another user admin first", verb, u.Name)
	}
	return nil
}

func userEvent(action, name string, detail map[string]any) audit.Event {
	return audit.Event{Action: action, ResourceType: "user", ResourceID: name, Detail: detail}
}

// actorFor is the caller once authenticated as u; the request id and
// address come from ctx, unless addr is given.
func actorFor(ctx context.Context, u User, addr string) actor.Actor {
	a := actor.From(ctx)
	if addr == "" {
		addr = a.ClientAddr
	}
	return actor.Actor{UserID: u.ID, Name: u.Name, Role: string(u.Role), RequestID: a.RequestID, ClientAddr: addr}
}

// newSecret returns 32 random bytes as lowercase base32 (52 characters:
// easy to select and paste, no characters that need escaping anywhere).
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// secretLen is the length of newSecret's result.
const secretLen = 52

// hashSecret is the stored form of a token or session. Secrets are 256
// random bits, so a fast hash is enough: there is nothing to guess.
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
