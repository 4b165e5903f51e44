package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
)

// AuthenticatePassword checks a user name and password and returns the
// actor they stand for. clientAddr (empty: the one in ctx) is the caller's
// address for rate limiting and the audit log.
//
// A wrong password, an unknown user and a disabled user all give the same
// Unauthorized error after the same work, so the answer does not tell which
// names exist. After MaxFailures failures within FailureWindow for one name
// or one address, attempts with it get TooMany, even with the right
// password, until LockoutTime has passed.
func (s *Service) AuthenticatePassword(ctx context.Context, name, password, clientAddr string) (actor.Actor, error) {
	caller := actor.From(ctx)
	if clientAddr == "" {
		clientAddr = caller.ClientAddr
	}
	caller.ClientAddr = clientAddr
	keys := loginKeys(name, clientAddr)
	start := s.opts.Now()
	if wait := s.limiter.begin(start, keys); wait > 0 {
		return actor.Actor{}, errs.E(errs.TooMany, "too many failed logins; try again in %s", minutes(wait))
	}

	reason := ""
	u, hash, err := s.loginUser(ctx, name)
	switch {
	case errs.Is(err, errs.NotFound):
		reason = "unknown user"
		hash = s.dummy() // spend the same time as for a real user
	case errs.Is(err, errs.Invalid):
		reason = "invalid user name"
		hash = s.dummy()
	case err != nil:
		s.limiter.forget(start, keys)
		return actor.Actor{}, err
	}
	match, err := verifyPassword(hash, password)
	if err != nil {
		s.limiter.forget(start, keys)
		return actor.Actor{}, fmt.Errorf("checking password of %q: %w", name, err)
	}
	switch {
	case reason != "":
	case !match:
		reason = "wrong password"
	case u.Disabled:
		reason = "user disabled"
	}

	if reason != "" {
		detail := map[string]any{"reason": reason}
		if s.limiter.fail(s.opts.Now(), keys) {
			detail["locked_out"] = true
		}
		resource := name
		if reason == "invalid user name" {
			// Keep whatever the client sent short and printable in the log.
			resource = strconv.QuoteToASCII(truncate(name, 64))
		}
		err := s.log.RecordAlone(actor.With(ctx, caller), audit.Event{
			Action: "login", ResourceType: "user", ResourceID: resource, Outcome: audit.Failure, Detail: detail})
		if err != nil {
			return actor.Actor{}, fmt.Errorf("recording failed login: %w", err)
		}
		return actor.Actor{}, errs.E(errs.Unauthorized, "invalid username or password")
	}

	s.limiter.succeed(start, keys)
	a := actorFor(ctx, u, clientAddr)
	if err := s.log.RecordAlone(actor.With(ctx, a), audit.Event{
		Action: "login", ResourceType: "user", ResourceID: u.Name, Detail: map[string]any{"method": "password"}}); err != nil {
		return actor.Actor{}, fmt.Errorf("recording login: %w", err)
	}
	return a, nil
}

// loginUser returns a user and their password hash. A name that breaks the
// naming rule is Invalid without a query: no such user can exist.
func (s *Service) loginUser(ctx context.Context, name string) (User, string, error) {
	if err := checkName(name); err != nil {
		return User{}, "", err
	}
	var hash string
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE name = ?`, name), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", errs.E(errs.NotFound, "user %q not found", name)
	}
	if err != nil {
		return User{}, "", fmt.Errorf("reading user %q: %w", name, err)
	}
	return u, hash, nil
}

// dummy is a hash of no one's password, checked for unknown names so that
// they cost as much as known ones.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() { s.dummyHash = hashPassword(newSecret(), s.opts.HashParams) })
	return s.dummyHash
}

// loginKeys are the limiter keys of an attempt: the name, and the address
// without its port (a new connection must not start a new count).
func loginKeys(name, addr string) []string {
	keys := []string{"user:" + truncate(name, 128)} // bounded: names come from clients
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if addr != "" {
		keys = append(keys, "addr:"+addr)
	}
	return keys
}

func minutes(d time.Duration) string {
	n := int((d + time.Minute - 1) / time.Minute)
	if n <= 1 {
		return "1 minute"
	}
	return strconv.Itoa(n) + " minutes"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// limiter counts failed logins per key (user name, client address) and
// locks a key out after too many.
//
// Its state lives in this process only: each replica of a scaled-out
// server counts on its own, and a restart forgets. That bounds guessing
// well enough for passwords hashed with argon2id; a shared store would be
// needed for a strict global limit.
type limiter struct {
	max     int
	window  time.Duration
	lockout time.Duration

	mu        sync.Mutex
	keys      map[string]*failures
	lastPrune time.Time
}

type failures struct {
	// times holds the start of each failed or still running attempt within
	// the window. Counting running attempts stops a burst of parallel
	// guesses from all passing the check before the first one fails.
	times []time.Time
	until time.Time // locked out until then
}

func newLimiter(max int, window, lockout time.Duration) *limiter {
	return &limiter{max: max, window: window, lockout: lockout, keys: map[string]*failures{}}
}

// begin registers an attempt, or returns how long the caller must wait.
func (l *limiter) begin(now time.Time, keys []string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	var wait time.Duration
	for _, k := range keys {
		f := l.keys[k]
		if f == nil {
			continue
		}
		if now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
			continue
		}
		f.times = recent(f.times, now.Add(-l.window))
		if len(f.times) >= l.max {
			wait = max(wait, l.lockout) // the budget is taken by running attempts
		}
	}
	if wait > 0 {
		return wait
	}
	for _, k := range keys {
		f := l.keys[k]
		if f == nil {
			f = &failures{}
			l.keys[k] = f
		}
		f.times = append(f.times, now)
	}
	return 0
}

// fail keeps the attempt begun as a failure and reports whether that locked
// out any key.
func (l *limiter) fail(now time.Time, keys []string) (locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if f := l.keys[k]; f != nil && len(f.times) >= l.max {
			f.times, f.until = nil, now.Add(l.lockout)
			locked = true
		}
	}
	return locked
}

// succeed clears the name's failures and drops the attempt from the
// address's count; earlier failures from the address still count, or one
// valid account would let an address guess others' passwords forever.
func (l *limiter) succeed(started time.Time, keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, keys[0])
	l.drop(started, keys[1:])
}

// forget drops an attempt that ended in an error rather than an answer.
func (l *limiter) forget(started time.Time, keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop(started, keys)
}

func (l *limiter) drop(started time.Time, keys []string) {
	for _, k := range keys {
		f := l.keys[k]
		if f == nil {
			continue
		}
		for i, t := range f.times {
			if t.Equal(started) {
				f.times = append(f.times[:i], f.times[i+1:]...)
				break
			}
		}
	}
}

// prune drops, once per window, keys with nothing left to remember, so
// names and addresses tried once do not pile up.
func (l *limiter) prune(now time.Time) {
	if now.Sub(l.lastPrune) < l.window {
		return
	}
	l.lastPrune = now
	cutoff := now.Add(-l.window)
	for k, f := range l.keys {
		f.times = recent(f.times, cutoff)
		if len(f.times) == 0 && !now.Before(f.until) {
			delete(l.keys, k)
		}
	}
}

// recent drops the times at or before cutoff (they are in order).
func recent(times []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(times) && !times[i].After(cutoff) {
		i++
	}
	return times[i:]
}
