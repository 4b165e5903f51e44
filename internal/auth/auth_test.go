package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// lightHash keeps tests fast; TestDefaultHashing covers the real costs.
var lightHash = HashParams{Memory: 64, Time: 1, Threads: 1}

type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) Now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type fixture struct {
	db    *store.DB
	svc   *Service
	log   *audit.Log
	clock *fakeClock
}

func migrations() []store.Migration { return append(audit.Migrations(), Migrations()...) }

// each runs fn on both engines with a fresh Service.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	storetest.Each(t, migrations(), func(t *testing.T, db *store.DB) {
		clock := &fakeClock{}
		clock.ms.Store(t0.UnixMilli())
		log := audit.New(db, audit.Options{Now: clock.Now})
		svc := New(db, log, Options{Now: clock.Now, HashParams: lightHash})
		fn(t, &fixture{db: db, svc: svc, log: log, clock: clock})
	})
}

var adminCtx = actor.With(context.Background(), actor.Actor{UserID: 1, Name: "root", Role: "admin", RequestID: "req-1", ClientAddr: "10.0.0.9"})

func mustUser(t *testing.T, s *Service, name string, role Role) User {
	t.Helper()
	u, err := s.CreateUser(adminCtx, name, "password-"+name, role)
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	return u
}

func wantCode(t *testing.T, what string, err error, code errs.Code) {
	t.Helper()
	if !errs.Is(err, code) {
		t.Errorf("%s: error = %v, want %s", what, err, code)
	}
}

// actions lists "action outcome resource" of every audit event, in order.
func actions(t *testing.T, l *audit.Log, f audit.Filter) []string {
	t.Helper()
	f.Limit = 1000
	entries, err := l.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Action+" "+e.Outcome+" "+e.ResourceID)
	}
	return out
}

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		have, need Role
		want       bool
	}{
		{Admin, Admin, true}, {Admin, Editor, true}, {Admin, Viewer, true},
		{Editor, Admin, false}, {Editor, Editor, true}, {Editor, Viewer, true},
		{Viewer, Admin, false}, {Viewer, Editor, false}, {Viewer, Viewer, true},
		{"", Viewer, false}, {"root", Viewer, false}, {Admin, "", false}, {Admin, "root", false},
	} {
		if got := c.have.Allows(c.need); got != c.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", c.have, c.need, got, c.want)
		}
	}
	for in, want := range map[string]Role{"admin": Admin, " Editor ": Editor, "VIEWER": Viewer} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "root", "admins"} {
		_, err := ParseRole(in)
		wantCode(t, "ParseRole "+in, err, errs.Invalid)
	}
}

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse", lightHash)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash = %s", h)
	}
	if h == hashPassword("correct horse", lightHash) {
		t.Error("two hashes of one password are equal: no salt")
	}
	if ok, err := verifyPassword(h, "correct horse"); !ok || err != nil {
		t.Errorf("right password: %v, %v", ok, err)
	}
	if ok, err := verifyPassword(h, "correct horsf"); ok || err != nil {
		t.Errorf("wrong password: %v, %v", ok, err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", strings.Replace(h, "v=19", "v=18", 1),
		strings.Replace(h, "t=1", "t=0", 1), strings.Replace(h, "m=64", "m=x", 1)} {
		if _, err := verifyPassword(bad, "x"); err == nil {
			t.Errorf("verifyPassword accepted %q", bad)
		}
	}
}

// TestDefaultHashing runs the real argon2id costs once per engine.
func TestDefaultHashing(t *testing.T) {
	storetest.Each(t, migrations(), func(t *testing.T, db *store.DB) {
		svc := New(db, audit.New(db, audit.Options{}), Options{})
		if _, err := svc.CreateUser(adminCtx, "alice", "s3cret-pass", Viewer); err != nil {
			t.Fatal(err)
		}
		var hash string
		if err := db.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE name = 'alice'`).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("stored hash = %s", hash)
		}
		if _, err := svc.AuthenticatePassword(context.Background(), "alice", "s3cret-pass", "1.1.1.1"); err != nil {
			t.Errorf("right password: %v", err)
		}
		_, err := svc.AuthenticatePassword(context.Background(), "alice", "s3cret-pasS", "1.1.1.1")
		wantCode(t, "wrong password", err, errs.Unauthorized)
	})
}

func TestUsers(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := adminCtx
		s := f.svc
		bob := mustUser(t, s, "bob", Editor)
		alice := mustUser(t, s, "alice@example.com", Viewer)
		if bob.ID == 0 || bob.ID == alice.ID || bob.Role != Editor || bob.Disabled || !bob.CreatedAt.Equal(t0) || bob.CreatedAt.Location() != time.UTC {
			t.Errorf("bob = %+v", bob)
		}
		got, err := s.GetUser(ctx, "bob")
		if err != nil || got != bob {
			t.Errorf("GetUser = %+v, %v; want %+v", got, err, bob)
		}
		_, err = s.GetUser(ctx, "nobody")
		wantCode(t, "GetUser nobody", err, errs.NotFound)
		users, err := s.ListUsers(ctx)
		if err != nil || len(users) != 2 || users[0].Name != "alice@example.com" || users[1].Name != "bob" {
			t.Errorf("ListUsers = %+v, %v", users, err)
		}

		_, err = s.CreateUser(ctx, "bob", "another-password", Viewer)
		wantCode(t, "duplicate", err, errs.Conflict)
		_, err = s.CreateUser(ctx, "BOB", "another-password", Viewer)
		wantCode(t, "duplicate in another case", err, errs.Conflict)
		for _, name := range []string{"", ".bob", "-bob", "bo b", "bob/x", "bøb", strings.Repeat("x", 65), "a\x00b"} {
			_, err = s.CreateUser(ctx, name, "long-enough", Viewer)
			wantCode(t, fmt.Sprintf("name %q", name), err, errs.Invalid)
		}
		if _, err := s.CreateUser(ctx, strings.Repeat("x", 64), "long-enough", Viewer); err != nil {
			t.Errorf("64-character name: %v", err)
		}
		_, err = s.CreateUser(ctx, "carol", "short", Viewer)
		wantCode(t, "short password", err, errs.Invalid)
		if !strings.Contains(errs.MessageOf(err), "at least 8 characters") {
			t.Errorf("short password message = %q", errs.MessageOf(err))
		}
		_, err = s.CreateUser(ctx, "carol", "long-enough", "root")
		wantCode(t, "bad role", err, errs.Invalid)

		// Only the successful creations were recorded.
		want := []string{"user.create success bob", "user.create success alice@example.com", "user.create success " + strings.Repeat("x", 64)}
		if got := actions(t, f.log, audit.Filter{}); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("audit = %q\nwant    %q", got, want)
		}
	})
}

func TestUserChanges(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := adminCtx
		s := f.svc
		mustUser(t, s, "root", Admin)
		mustUser(t, s, "bob", Viewer)
		f.clock.Add(time.Hour)
		if err := s.SetRole(ctx, "bob", Editor); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(ctx, "bob", "new-password"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisabled(ctx, "bob", true); err != nil {
			t.Fatal(err)
		}
		bob, err := s.GetUser(ctx, "bob")
		if err != nil || bob.Role != Editor || !bob.Disabled || !bob.UpdatedAt.Equal(t0.Add(time.Hour)) || !bob.CreatedAt.Equal(t0) {
			t.Errorf("bob = %+v, %v", bob, err)
		}
		if err := s.SetDisabled(ctx, "bob", false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuthenticatePassword(ctx, "bob", "new-password", ""); err != nil {
			t.Errorf("new password: %v", err)
		}
		wantCode(t, "SetPassword short", s.SetPassword(ctx, "bob", "short"), errs.Invalid)
		wantCode(t, "SetRole bad", s.SetRole(ctx, "bob", "superuser"), errs.Invalid)
		wantCode(t, "SetRole nobody", s.SetRole(ctx, "nobody", Viewer), errs.NotFound)
		wantCode(t, "SetDisabled nobody", s.SetDisabled(ctx, "nobody", true), errs.NotFound)
		wantCode(t, "SetPassword nobody", s.SetPassword(ctx, "nobody", "long-enough"), errs.NotFound)
		wantCode(t, "DeleteUser nobody", s.DeleteUser(ctx, "nobody"), errs.NotFound)
		if _, _, err := s.CreateToken(ctx, "bob", "ci", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetUser(ctx, "bob")
		wantCode(t, "deleted user", err, errs.NotFound)
		var n int
		if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM api_tokens`).Scan(&n); err != nil || n != 0 {
			t.Errorf("tokens left after deleting their user: %d, %v", n, err)
		}

		want := []string{
			"user.create success root", "user.create success bob",
			"user.update success bob", "user.update success bob", "user.update success bob", "user.update success bob",
			"login success bob", "token.create success 1", "user.delete success bob",
		}
		if got := actions(t, f.log, audit.Filter{}); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("audit = %q\nwant    %q", got, want)
		}
		entries, err := f.log.List(ctx, audit.Filter{Action: "user.update", Limit: 1})
		if err != nil || len(entries) != 1 {
			t.Fatal(entries, err)
		}
		e := entries[0]
		if e.Actor != "root" || e.ActorID != 1 || e.RequestID != "req-1" || e.ClientAddr != "10.0.0.9" ||
			e.Detail["role"] != "editor" || e.Detail["previous_role"] != "viewer" || !e.Time.Equal(t0.Add(time.Hour)) {
			t.Errorf("role change entry = %+v", e)
		}
		if rep, err := f.log.Verify(ctx, nil); err != nil || !rep.OK {
			t.Errorf("verify = %+v, %v", rep, err)
		}
	})
}

// TestChangeAndAuditShareTransaction: when the audit write fails, the
// change does not happen.
func TestChangeAndAuditShareTransaction(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := adminCtx
		mustUser(t, f.svc, "root", Admin)
		mustUser(t, f.svc, "bob", Viewer)
		if _, err := f.db.Exec(ctx, `DROP TABLE audit_events`); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateUser(ctx, "carol", "long-enough", Viewer); err == nil {
			t.Error("CreateUser succeeded without its audit event")
		}
		if err := f.svc.SetRole(ctx, "bob", Admin); err == nil {
			t.Error("SetRole succeeded without its audit event")
		}
		if err := f.svc.DeleteUser(ctx, "bob"); err == nil {
			t.Error("DeleteUser succeeded without its audit event")
		}
		users, err := f.svc.ListUsers(ctx)
		if err != nil || len(users) != 2 || users[0].Name != "bob" || users[0].Role != Viewer {
			t.Errorf("users = %+v, %v", users, err)
		}
	})
}

func TestLastAdmin(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := adminCtx
		s := f.svc
		mustUser(t, s, "root", Admin)
		mustUser(t, s, "bob", Editor)
		for what, err := range map[string]error{
			"demote":  s.SetRole(ctx, "root", Editor),
			"disable": s.SetDisabled(ctx, "root", true),
			"delete":  s.DeleteUser(ctx, "root"),
		} {
			wantCode(t, what, err, errs.State)
			if msg := errs.MessageOf(err); !strings.Contains(msg, "last enabled admin") {
				t.Errorf("%s: message %q", what, msg)
			}
		}
		// A disabled admin does not count.
		mustUser(t, s, "ada", Admin)
		if err := s.SetDisabled(ctx, "ada", true); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "demote with only a disabled other admin", s.SetRole(ctx, "root", Viewer), errs.State)
		// With another enabled admin it is allowed, and then that one is the last.
		if err := s.SetRole(ctx, "bob", Admin); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRole(ctx, "root", Viewer); err != nil {
			t.Errorf("demote with another admin: %v", err)
		}
		wantCode(t, "delete the new last admin", s.DeleteUser(ctx, "bob"), errs.State)
		// Changing a disabled admin, or keeping an admin an admin, is fine.
		if err := s.DeleteUser(ctx, "ada"); err != nil {
			t.Errorf("delete disabled admin: %v", err)
		}
		if err := s.SetRole(ctx, "bob", Admin); err != nil {
			t.Errorf("admin to admin: %v", err)
		}
		if got := actions(t, f.log, audit.Filter{Action: "user.update", Outcome: audit.Success}); len(got) != 4 {
			t.Errorf("user.update events = %q (refused changes must not be recorded)", got)
		}
	})
}

func TestAuthenticatePassword(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s := f.svc
		mustUser(t, s, "bob", Editor)
		mustUser(t, s, "dis", Viewer)
		if err := s.SetDisabled(adminCtx, "dis", true); err != nil {
			t.Fatal(err)
		}
		ctx := actor.With(context.Background(), actor.Actor{Name: "anonymous", RequestID: "r9", ClientAddr: "192.0.2.1"})
		a, err := s.AuthenticatePassword(ctx, "bob", "password-bob", "")
		if err != nil {
			t.Fatal(err)
		}
		if a.UserID == 0 || a.Name != "bob" || a.Role != "editor" || a.RequestID != "r9" || a.ClientAddr != "192.0.2.1" {
			t.Errorf("actor = %+v", a)
		}
		a, err = s.AuthenticatePassword(ctx, "bob", "password-bob", "198.51.100.7")
		if err != nil || a.ClientAddr != "198.51.100.7" {
			t.Errorf("explicit address: %+v, %v", a, err)
		}
		// Distinct addresses (but the first), to stay under the rate limit.
		for i, c := range []struct{ name, pw string }{
			{"bob", "password-bo"}, {"bob", ""}, {"nobody", "password-bob"}, {"dis", "password-dis"}, {"Bob", "password-bob"}, {"../x\x00", "p"},
		} {
			addr := ""
			if i > 0 {
				addr = fmt.Sprintf("192.0.2.%d", 100+i)
			}
			_, err := s.AuthenticatePassword(ctx, c.name, c.pw, addr)
			wantCode(t, c.name+"/"+c.pw, err, errs.Unauthorized)
			if msg := errs.MessageOf(err); msg != "invalid username or password" {
				t.Errorf("%s: message %q", c.name, msg)
			}
		}
		entries, err := f.log.List(ctx, audit.Filter{Action: "login"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, fmt.Sprintf("%s %s %s %v", e.Outcome, e.Actor, e.ResourceID, e.Detail["reason"]))
		}
		want := []string{
			"success bob bob <nil>", "success bob bob <nil>",
			"failure anonymous bob wrong password", "failure anonymous bob wrong password",
			"failure anonymous nobody unknown user", "failure anonymous dis user disabled", "failure anonymous Bob unknown user",
			`failure anonymous "../x\x00" invalid user name`,
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("login events:\n%q\nwant\n%q", got, want)
		}
		if entries[0].ClientAddr != "192.0.2.1" || entries[1].ClientAddr != "198.51.100.7" || entries[2].ClientAddr != "192.0.2.1" {
			t.Errorf("addresses: %+v", entries[:3])
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		s := f.svc
		ctx := context.Background()
		mustUser(t, s, "bob", Viewer)
		mustUser(t, s, "eve", Viewer)
		login := func(name, pw, addr string) error {
			_, err := s.AuthenticatePassword(ctx, name, pw, addr)
			return err
		}
		// Five failures for one name, from different addresses.
		for i := range 5 {
			wantCode(t, "failure", login("bob", "wrong-password", fmt.Sprintf("10.0.0.%d", i)), errs.Unauthorized)
		}
		err := login("bob", "password-bob", "10.0.1.1")
		wantCode(t, "right password while locked", err, errs.TooMany)
		if msg := errs.MessageOf(err); msg != "too many failed logins; try again in 15 minutes" {
			t.Errorf("message = %q", msg)
		}
		if err := login("eve", "password-eve", "10.0.0.1"); err != nil {
			t.Errorf("another user from an address with one failure: %v", err)
		}
		f.clock.Add(14*time.Minute + 30*time.Second)
		err = login("bob", "password-bob", "10.0.1.1")
		if msg := errs.MessageOf(err); msg != "too many failed logins; try again in 1 minute" {
			t.Errorf("message = %q", msg)
		}
		f.clock.Add(31 * time.Second)
		if err := login("bob", "password-bob", "10.0.1.1"); err != nil {
			t.Errorf("after the lockout: %v", err)
		}

		// Five failures from one address, for different (even unknown) names,
		// with a port that changes per connection.
		for i := range 5 {
			wantCode(t, "failure", login(fmt.Sprintf("user%d", i), "wrong-password", fmt.Sprintf("203.0.113.5:%d", 40000+i)), errs.Unauthorized)
		}
		wantCode(t, "address locked", login("eve", "password-eve", "203.0.113.5:50000"), errs.TooMany)
		if err := login("eve", "password-eve", "203.0.113.6"); err != nil {
			t.Errorf("the same user from another address: %v", err)
		}

		// Failures spread beyond the window do not lock.
		for range 8 {
			wantCode(t, "slow failure", login("eve", "wrong-password", "198.51.100.1"), errs.Unauthorized)
			f.clock.Add(4 * time.Minute)
		}
		// A success clears the name's count.
		for range 4 {
			wantCode(t, "failure", login("bob", "wrong-password", fmt.Sprintf("192.0.2.%d", f.clock.ms.Load()%200)), errs.Unauthorized)
			f.clock.Add(time.Millisecond)
		}
		if err := login("bob", "password-bob", "192.0.2.250"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "count restarted", login("bob", "wrong-password", "192.0.2.251"), errs.Unauthorized)
		if err := login("bob", "password-bob", "192.0.2.252"); err != nil {
			t.Errorf("after count restarted: %v", err)
		}

		locked := 0
		entries, err := f.log.List(ctx, audit.Filter{Action: "login", Outcome: audit.Failure, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Detail["locked_out"] == true {
				locked++
			}
		}
		if locked != 2 {
			t.Errorf("%d failures recorded a lockout, want 2", locked)
		}
	})
}

// TestLoginRateLimitBurst: parallel guesses cannot all slip past the limit
// before the first of them fails.
func TestLoginRateLimitBurst(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		mustUser(t, f.svc, "bob", Viewer)
		var wg sync.WaitGroup
		var unauthorized, tooMany atomic.Int32
		for i := range 20 {
			wg.Go(func() {
				_, err := f.svc.AuthenticatePassword(context.Background(), "bob", "wrong-password", fmt.Sprintf("10.1.0.%d", i))
				switch {
				case errs.Is(err, errs.Unauthorized):
					unauthorized.Add(1)
				case errs.Is(err, errs.TooMany):
					tooMany.Add(1)
				default:
					t.Errorf("unexpected: %v", err)
				}
			})
		}
		wg.Wait()
		if unauthorized.Load() > 5 || unauthorized.Load()+tooMany.Load() != 20 {
			t.Errorf("%d guesses checked, %d refused; want at most 5 checked", unauthorized.Load(), tooMany.Load())
		}
	})
}

func TestTokens(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := adminCtx
		s := f.svc
		bob := mustUser(t, s, "bob", Editor)
		mustUser(t, s, "eve", Viewer)

		plain, tok, err := s.CreateToken(ctx, "bob", " laptop ", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, "mlc_") || len(plain) != 56 || tok.Prefix != plain[4:12] || tok.Name != "laptop" ||
			tok.UserID != bob.ID || tok.UserName != "bob" || !tok.ExpiresAt.IsZero() || !tok.CreatedAt.Equal(t0) {
			t.Errorf("token %q = %+v", plain, tok)
		}
		a, err := s.AuthenticateToken(ctx, plain)
		if err != nil || a.UserID != bob.ID || a.Name != "bob" || a.Role != "editor" || a.RequestID != "req-1" || a.ClientAddr != "10.0.0.9" {
			t.Fatalf("AuthenticateToken = %+v, %v", a, err)
		}

		// Only a hash is stored: the secret appears in no column.
		rows, err := f.db.Query(ctx, `SELECT * FROM api_tokens`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if s := fmt.Sprintf("%s", v); strings.Contains(s, plain[4:]) {
					t.Errorf("column %s holds the token secret", cols[i])
				}
			}
		}
		rows.Close()

		// last_used_at is written at most once a minute.
		lastUsed := func() time.Time {
			t.Helper()
			toks, err := s.ListTokens(ctx, "bob")
			if err != nil || len(toks) != 1 {
				t.Fatalf("ListTokens = %+v, %v", toks, err)
			}
			return toks[0].LastUsedAt
		}
		if got := lastUsed(); !got.Equal(t0) {
			t.Errorf("last used = %v, want %v", got, t0)
		}
		f.clock.Add(30 * time.Second)
		if _, err := s.AuthenticateToken(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(t0) {
			t.Errorf("last used after 30s = %v, want unchanged %v", got, t0)
		}
		f.clock.Add(31 * time.Second)
		if _, err := s.AuthenticateToken(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(t0.Add(61 * time.Second)) {
			t.Errorf("last used after 61s = %v", got)
		}

		// Expiry.
		short, stok, err := s.CreateToken(ctx, "bob", "ci", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !stok.ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) {
			t.Errorf("expires at %v", stok.ExpiresAt)
		}
		if _, err := s.AuthenticateToken(ctx, short); err != nil {
			t.Errorf("fresh token: %v", err)
		}
		f.clock.Add(time.Hour)
		_, err = s.AuthenticateToken(ctx, short)
		wantCode(t, "expired token", err, errs.Unauthorized)

		// Revocation: only by its owner's name, and it stops working.
		wantCode(t, "revoke via another user", s.RevokeToken(ctx, "eve", tok.ID), errs.NotFound)
		if err := s.RevokeToken(ctx, "bob", tok.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.AuthenticateToken(ctx, plain)
		wantCode(t, "revoked token", err, errs.Unauthorized)
		wantCode(t, "revoke twice", s.RevokeToken(ctx, "bob", tok.ID), errs.NotFound)

		// A disabled user's tokens fail, and work again when re-enabled.
		third, _, err := s.CreateToken(ctx, "bob", "third", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisabled(ctx, "bob", true); err != nil {
			t.Fatal(err)
		}
		_, err = s.AuthenticateToken(ctx, third)
		wantCode(t, "disabled user", err, errs.Unauthorized)
		if err := s.SetDisabled(ctx, "bob", false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuthenticateToken(ctx, third); err != nil {
			t.Errorf("re-enabled user: %v", err)
		}

		for _, bad := range []string{"", "mlc_", plain[:55], "xyz_" + plain[4:], plain[:55] + "a", strings.ToUpper(third)} {
			_, err := s.AuthenticateToken(ctx, bad)
			wantCode(t, "bad token "+bad, err, errs.Unauthorized)
		}
		_, _, err = s.CreateToken(ctx, "bob", "  ", 0)
		wantCode(t, "empty name", err, errs.Invalid)
		_, _, err = s.CreateToken(ctx, "bob", "x", -time.Second)
		wantCode(t, "negative ttl", err, errs.Invalid)
		_, _, err = s.CreateToken(ctx, "nobody", "x", 0)
		wantCode(t, "unknown user", err, errs.NotFound)
		_, err = s.ListTokens(ctx, "nobody")
		wantCode(t, "list unknown user", err, errs.NotFound)

		toks, err := s.ListTokens(ctx, "bob")
		if err != nil || len(toks) != 2 || toks[0].Name != "ci" || toks[1].Name != "third" {
			t.Errorf("ListTokens = %+v, %v", toks, err)
		}
		want := []string{"token.create success 1", "token.create success 2", "token.revoke success 1", "token.create success 3"}
		if got := actions(t, f.log, audit.Filter{Action: "token.*"}); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("audit = %q\nwant    %q", got, want)
		}
	})
}

func TestSessions(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := actor.With(context.Background(), actor.Actor{Name: "anonymous", RequestID: "r2", ClientAddr: "192.0.2.3"})
		s := f.svc
		bob := mustUser(t, s, "bob", Editor)

		tok, csrf, err := s.CreateSession(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) < 40 || len(csrf) < 40 || tok == csrf {
			t.Errorf("tokens %q, %q", tok, csrf)
		}
		a, gotCSRF, err := s.SessionActor(ctx, tok)
		if err != nil || a.UserID != bob.ID || a.Name != "bob" || a.Role != "editor" || a.ClientAddr != "192.0.2.3" || gotCSRF != csrf {
			t.Fatalf("SessionActor = %+v, %q, %v", a, gotCSRF, err)
		}
		var stored int
		if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE hash = ?`, tok).Scan(&stored); err != nil || stored != 0 {
			t.Errorf("session token stored in plaintext: %d, %v", stored, err)
		}
		_, _, err = s.SessionActor(ctx, "nope")
		wantCode(t, "unknown session", err, errs.Unauthorized)
		_, _, err = s.SessionActor(ctx, csrf)
		wantCode(t, "csrf as session", err, errs.Unauthorized)
		_, _, err = s.CreateSession(ctx, 9999)
		wantCode(t, "unknown user", err, errs.NotFound)

		// Logout.
		if err := s.DeleteSession(ctx, tok); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.SessionActor(ctx, tok)
		wantCode(t, "after logout", err, errs.Unauthorized)
		if err := s.DeleteSession(ctx, tok); err != nil {
			t.Errorf("second logout: %v", err)
		}
		entries, err := f.log.List(ctx, audit.Filter{Action: "session.logout"})
		if err != nil || len(entries) != 1 || entries[0].Actor != "bob" || entries[0].ActorID != bob.ID || entries[0].RequestID != "r2" {
			t.Errorf("logout events = %+v, %v", entries, err)
		}

		// Expiry, and expired sessions are cleared by the next sign-in.
		old, _, err := s.CreateSession(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Add(12*time.Hour - time.Millisecond)
		if _, _, err := s.SessionActor(ctx, old); err != nil {
			t.Errorf("just before expiry: %v", err)
		}
		f.clock.Add(time.Millisecond)
		_, _, err = s.SessionActor(ctx, old)
		wantCode(t, "expired", err, errs.Unauthorized)
		if _, _, err := s.CreateSession(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil || n != 1 {
			t.Errorf("sessions = %d, %v; want the expired one cleared", n, err)
		}

		// Disabling a user or changing their password ends their sessions.
		for _, change := range []func() error{
			func() error { return s.SetDisabled(adminCtx, "bob", true) },
			func() error { return s.SetPassword(adminCtx, "bob", "brand-new-pass") },
		} {
			_ = s.SetDisabled(adminCtx, "bob", false)
			live, _, err := s.CreateSession(ctx, bob.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := change(); err != nil {
				t.Fatal(err)
			}
			_, _, err = s.SessionActor(ctx, live)
			wantCode(t, "session after disable/password change", err, errs.Unauthorized)
		}
		_, _, err = s.CreateSession(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisabled(adminCtx, "bob", true); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.CreateSession(ctx, bob.ID)
		wantCode(t, "session for disabled user", err, errs.Unauthorized)
	})
}

func TestEnsureAdmin(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		s := f.svc
		if has, err := s.HasUsers(ctx); err != nil || has {
			t.Fatalf("HasUsers on empty = %v, %v", has, err)
		}
		_, err := s.EnsureAdmin(ctx, "admin", "short")
		wantCode(t, "short password", err, errs.Invalid)
		created, err := s.EnsureAdmin(ctx, "admin", "first-start-pass")
		if err != nil || !created {
			t.Fatalf("EnsureAdmin = %v, %v", created, err)
		}
		u, err := s.GetUser(ctx, "admin")
		if err != nil || u.Role != Admin {
			t.Errorf("admin = %+v, %v", u, err)
		}
		if has, err := s.HasUsers(ctx); err != nil || !has {
			t.Errorf("HasUsers = %v, %v", has, err)
		}
		// Once users exist, it changes nothing, whatever it is given.
		for _, name := range []string{"admin", "other"} {
			created, err = s.EnsureAdmin(ctx, name, "x")
			if err != nil || created {
				t.Errorf("EnsureAdmin(%s) again = %v, %v", name, created, err)
			}
		}
		if _, err := s.AuthenticatePassword(ctx, "admin", "first-start-pass", ""); err != nil {
			t.Errorf("login: %v", err)
		}
		entries, err := f.log.List(ctx, audit.Filter{Action: "user.create"})
		if err != nil || len(entries) != 1 || entries[0].Actor != "system" || entries[0].Detail["initial_admin"] != true {
			t.Errorf("audit = %+v, %v", entries, err)
		}
	})
}

// TestTokensAcrossUsers covers the admin paths: listing every user's tokens
// and revoking a token without naming its owner.
func TestTokensAcrossUsers(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := adminCtx
		s := f.svc
		mustUser(t, s, "bob", Editor)
		mustUser(t, s, "eve", Viewer)
		_, bt, err := s.CreateToken(ctx, "bob", "b1", 0)
		if err != nil {
			t.Fatal(err)
		}
		plain, et, err := s.CreateToken(ctx, "eve", "e1", 0)
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.ListTokens(ctx, "")
		if err != nil || len(all) != 2 || all[0].UserName != "bob" || all[1].UserName != "eve" || all[1].ID != et.ID {
			t.Fatalf("ListTokens(all) = %+v, %v", all, err)
		}
		wantCode(t, "revoke naming the wrong owner", s.RevokeToken(ctx, "bob", et.ID), errs.NotFound)
		if err := s.RevokeToken(ctx, "", et.ID); err != nil {
			t.Fatalf("revoke without owner: %v", err)
		}
		if _, err := s.AuthenticateToken(ctx, plain); errs.CodeOf(err) != errs.Unauthorized {
			t.Errorf("revoked token still works: %v", err)
		}
		wantCode(t, "revoke a missing token", s.RevokeToken(ctx, "", 999999), errs.NotFound)
		left, err := s.ListTokens(ctx, "")
		if err != nil || len(left) != 1 || left[0].ID != bt.ID {
			t.Fatalf("after revoke: %+v, %v", left, err)
		}
		ev, err := f.log.List(ctx, audit.Filter{Action: "token.revoke"})
		if err != nil || len(ev) != 1 || ev[0].Detail["user"] != "eve" {
			t.Fatalf("audit = %+v, %v", ev, err)
		}
	})
}
