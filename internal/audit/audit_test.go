package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is safe for concurrent use and only moves when told.
type fakeClock struct{ ms atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ms.Store(t0.UnixMilli())
	return c
}
func (c *fakeClock) Now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func userCtx(name string, id int64) context.Context {
	return actor.With(context.Background(), actor.Actor{UserID: id, Name: name, Role: "admin", RequestID: "req-" + name, ClientAddr: "10.0.0.1"})
}

// seed records n events, one transaction each.
func seed(t *testing.T, l *Log, n int) {
	t.Helper()
	ctx := userCtx("alice", 1)
	for i := 1; i <= n; i++ {
		if err := l.RecordAlone(ctx, Event{Action: "thing.update", ResourceType: "thing", ResourceID: fmt.Sprint(i), Detail: map[string]any{"i": i}}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func exec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// dropTriggers does what an attacker with database access would do first.
func dropTriggers(t *testing.T, db *store.DB) {
	t.Helper()
	for _, tr := range []struct{ name, table string }{
		{"audit_events_no_update", "audit_events"},
		{"audit_events_no_delete", "audit_events"},
		{"audit_head_no_delete", "audit_head"},
		{"audit_head_forward_only", "audit_head"},
	} {
		q := "DROP TRIGGER " + tr.name
		if db.Dialect() == store.Postgres {
			q += " ON " + tr.table
		}
		exec(t, db, q)
	}
}

func readRow(t *testing.T, db *store.DB, seq int64) row {
	t.Helper()
	r, err := scanRow(db.QueryRow(context.Background(), "SELECT "+columns+" FROM audit_events WHERE seq = ?", seq))
	if err != nil {
		t.Fatalf("reading event %d: %v", seq, err)
	}
	return r
}

func insertRow(t *testing.T, db *store.DB, r row) {
	t.Helper()
	exec(t, db, "INSERT INTO audit_events ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.Seq, r.At, r.Actor, r.ActorID, r.Action, r.ResourceType, r.ResourceID, r.Outcome,
		r.RequestID, r.ClientAddr, r.Detail, r.PrevHash, r.Hash)
}

// overwrite puts every column of r, except seq, into the row at seq.
func overwrite(t *testing.T, db *store.DB, seq int64, r row) {
	t.Helper()
	exec(t, db, `UPDATE audit_events SET at = ?, actor = ?, actor_id = ?, action = ?, resource_type = ?, resource_id = ?,
		outcome = ?, request_id = ?, client_addr = ?, detail = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
		r.At, r.Actor, r.ActorID, r.Action, r.ResourceType, r.ResourceID, r.Outcome,
		r.RequestID, r.ClientAddr, r.Detail, r.PrevHash, r.Hash, seq)
}

func verify(t *testing.T, l *Log) Report {
	t.Helper()
	rep, err := l.Verify(context.Background(), nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func TestHashIsStable(t *testing.T) {
	r := row{Seq: 7, At: t0.UnixMilli(), Actor: "alice", ActorID: 3, Action: "user.create", ResourceType: "user",
		ResourceID: "bob", Outcome: Success, RequestID: "r1", ClientAddr: "127.0.0.1", Detail: `{"role":"viewer"}`, PrevHash: "ab"}
	// A change here breaks every existing chain: bump hashDomain instead.
	const want = "2e646d75d27eb79a15c7eaa49ed58343936e2d307987d0852ddcb7999d7650e0"
	if got := r.computeHash(); got != want {
		t.Errorf("hash = %s, want %s", got, want)
	}
	// Length prefixes keep field boundaries: moving a byte across one changes the hash.
	a, b := r, r
	a.ResourceType, a.ResourceID = "userb", "ob"
	if a.computeHash() == b.computeHash() {
		t.Error("moving bytes between fields kept the hash")
	}
}

func TestChainVerifies(t *testing.T) {
	storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
		ctx := userCtx("alice", 1)
		clock := newClock()
		l := New(db, Options{Now: clock.Now})
		if rep := verify(t, l); !rep.OK || rep.Checked != 0 || rep.HeadSeq != 0 {
			t.Fatalf("empty log: %+v", rep)
		}
		// More than one verify page, in one transaction to keep it quick.
		const n = verifyPage + 205
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := range n {
				clock.Add(time.Second)
				if err := l.Record(ctx, tx, Event{Action: "thing.create", ResourceType: "thing", ResourceID: fmt.Sprint(i),
					Detail: map[string]any{"i": i, "nested": map[string]any{"b": 1, "a": []any{"x", true}}}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var calls []int64
		rep, err := l.Verify(ctx, func(c int64) { calls = append(calls, c) })
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || rep.Checked != n || rep.HeadSeq != n || rep.FirstBad != 0 || rep.Problem != "" {
			t.Fatalf("report = %+v", rep)
		}
		if fmt.Sprint(calls) != fmt.Sprintf("[%d %d]", verifyPage, n) {
			t.Errorf("progress calls = %v", calls)
		}
		last := readRow(t, db, n)
		if rep.HeadHash != last.Hash || last.Hash != last.computeHash() {
			t.Errorf("head hash %s, last event hash %s", rep.HeadHash, last.Hash)
		}
		first := readRow(t, db, 1)
		if first.PrevHash != "" || readRow(t, db, 2).PrevHash != first.Hash {
			t.Error("events are not linked")
		}
		if first.Detail != `{"i":0,"nested":{"a":["x",true],"b":1}}` {
			t.Errorf("detail is not canonical JSON: %s", first.Detail)
		}
	})
}

func TestTriggersBlockChanges(t *testing.T) {
	storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db, Options{})
		seed(t, l, 3)
		for _, q := range []string{
			"UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
			"DELETE FROM audit_events WHERE seq = 2",
			"DELETE FROM audit_events WHERE seq = 3",
			"DELETE FROM audit_head",
			"UPDATE audit_head SET seq = 2",
			"UPDATE audit_head SET seq = 5",
		} {
			if _, err := db.Exec(ctx, q); err == nil {
				t.Errorf("%s: allowed", q)
			}
		}
		if db.Dialect() == store.Postgres {
			if _, err := db.Exec(ctx, "TRUNCATE audit_events"); err == nil {
				t.Error("TRUNCATE allowed")
			}
		}
		if rep := verify(t, l); !rep.OK || rep.Checked != 3 {
			t.Errorf("report = %+v", rep)
		}
	})
}

func TestTamperingIsDetected(t *testing.T) {
	const n = 10
	cases := []struct {
		name     string
		tamper   func(t *testing.T, db *store.DB)
		firstBad int64
		problem  string
	}{
		{"edit a middle field", func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
		}, 5, "event 5: content does not match its hash (altered)"},
		{"edit detail", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_events SET detail = '{"i":99}' WHERE seq = 3`)
		}, 3, "event 3: content does not match its hash (altered)"},
		{"edit time", func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_events SET at = at + 1 WHERE seq = 8")
		}, 8, "event 8: content does not match its hash (altered)"},
		{"delete a middle event", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_events WHERE seq = 6")
		}, 6, "event 6 missing: chain jumps from 5 to 7 (deleted)"},
		{"delete several middle events", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_events WHERE seq BETWEEN 3 AND 5")
		}, 3, "events 3-5 missing: chain jumps from 2 to 6 (deleted)"},
		{"delete the first event", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_events WHERE seq = 1")
		}, 1, "event 1 missing: chain jumps from 0 to 2 (deleted)"},
		{"delete the last event", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_events WHERE seq = ?", n)
		}, n, "event 10 missing: the head records 10 events but the log ends at 9 (deleted tail)"},
		{"truncate the tail", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_events WHERE seq >= 8")
		}, 8, "events 8-10 missing: the head records 10 events but the log ends at 7 (deleted tail)"},
		{"delete everything", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_events")
		}, 1, "events 1-10 missing"},
		{"swap two events' contents", func(t *testing.T, db *store.DB) {
			a, b := readRow(t, db, 4), readRow(t, db, 5)
			overwrite(t, db, 4, b)
			overwrite(t, db, 5, a)
		}, 4, "event 4: content does not match its hash (altered)"},
		{"swap two events' seq", func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_events SET seq = -1 WHERE seq = 4")
			exec(t, db, "UPDATE audit_events SET seq = 4 WHERE seq = 5")
			exec(t, db, "UPDATE audit_events SET seq = 5 WHERE seq = -1")
		}, 4, "event 4: content does not match its hash (altered)"},
		{"replace a middle event with a well-hashed forgery", func(t *testing.T, db *store.DB) {
			f := readRow(t, db, 5)
			f.Actor, f.Action = "mallory", "nothing.happened"
			f.Hash = f.computeHash()
			exec(t, db, "DELETE FROM audit_events WHERE seq = 5")
			insertRow(t, db, f)
		}, 6, "event 6: its link does not match the hash of event 5"},
		{"append a forged event without moving the head", func(t *testing.T, db *store.DB) {
			last := readRow(t, db, n)
			f := last
			f.Seq, f.PrevHash, f.Actor = n+1, last.Hash, "mallory"
			f.Hash = f.computeHash()
			insertRow(t, db, f)
		}, n + 1, "event 11: stored after the head (seq 10) without moving it (inserted or forged)"},
		{"replace the last event with a well-hashed forgery", func(t *testing.T, db *store.DB) {
			f := readRow(t, db, n)
			f.Actor = "mallory"
			f.Hash = f.computeHash()
			overwrite(t, db, n, f)
		}, n, "event 10: hash does not match the one recorded in the head"},
		{"alter the head", func(t *testing.T, db *store.DB) {
			exec(t, db, "UPDATE audit_head SET hash = 'beef'")
		}, n, "event 10: hash does not match the one recorded in the head"},
		{"delete the head", func(t *testing.T, db *store.DB) {
			exec(t, db, "DELETE FROM audit_head")
		}, 0, "the head row is missing (deleted)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
				l := New(db, Options{Now: newClock().Now})
				seed(t, l, n)
				if rep := verify(t, l); !rep.OK {
					t.Fatalf("before tampering: %+v", rep)
				}
				dropTriggers(t, db)
				c.tamper(t, db)
				rep := verify(t, l)
				if rep.OK || rep.FirstBad != c.firstBad || !strings.HasPrefix(rep.Problem, c.problem) {
					t.Errorf("report = %+v\nwant first bad %d, problem %q", rep, c.firstBad, c.problem)
				}
			})
		})
	}
}

func TestRolledBackRecordLeavesNoEvent(t *testing.T) {
	storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
		ctx := userCtx("alice", 1)
		l := New(db, Options{})
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := l.Record(ctx, tx, Event{Action: "thing.create"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		if got, err := l.List(ctx, Filter{}); err != nil || len(got) != 0 {
			t.Fatalf("List = %v, %v; want nothing", got, err)
		}
		seed(t, l, 1)
		if rep := verify(t, l); !rep.OK || rep.HeadSeq != 1 {
			t.Errorf("report = %+v", rep)
		}
	})
}

func TestConcurrentRecordsDoNotFork(t *testing.T) {
	storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
		l := New(db, Options{})
		const workers, each = 8, 20
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				ctx := userCtx(fmt.Sprintf("w%d", w), int64(w))
				for i := range each {
					err := db.InTx(ctx, func(tx *store.Tx) error {
						return l.Record(ctx, tx, Event{Action: "thing.update", ResourceID: fmt.Sprintf("%d/%d", w, i)})
					})
					if err != nil {
						errc <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		rep := verify(t, l)
		if !rep.OK || rep.Checked != workers*each || rep.HeadSeq != workers*each {
			t.Fatalf("report = %+v", rep)
		}
	})
}

func TestRecordValidates(t *testing.T) {
	storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
		l := New(db, Options{})
		ctx := context.Background()
		if err := l.RecordAlone(ctx, Event{}); !errs.Is(err, errs.Invalid) {
			t.Errorf("no action: %v", err)
		}
		if err := l.RecordAlone(ctx, Event{Action: "x", Outcome: "maybe"}); !errs.Is(err, errs.Invalid) {
			t.Errorf("bad outcome: %v", err)
		}
		if err := l.RecordAlone(ctx, Event{Action: "x", Detail: map[string]any{"c": make(chan int)}}); err == nil {
			t.Error("unencodable detail accepted")
		}
		// No actor in the context: the system did it.
		if err := l.RecordAlone(ctx, Event{Action: "x"}); err != nil {
			t.Fatal(err)
		}
		got, err := l.List(ctx, Filter{})
		if err != nil || len(got) != 1 || got[0].Actor != "system" || got[0].Outcome != Success || len(got[0].Detail) != 0 {
			t.Errorf("List = %+v, %v", got, err)
		}
	})
}

func TestList(t *testing.T) {
	storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
		clock := newClock()
		l := New(db, Options{Now: clock.Now})
		alice, bob := userCtx("alice", 1), userCtx("bob", 2)
		events := []struct {
			ctx context.Context
			e   Event
		}{
			{alice, Event{Action: "user.create", ResourceType: "user", ResourceID: "carol", Detail: map[string]any{"role": "viewer"}}}, // 1
			{alice, Event{Action: "user.update", ResourceType: "user", ResourceID: "carol"}},                                           // 2
			{bob, Event{Action: "login", ResourceType: "user", ResourceID: "bob", Outcome: Failure}},                                   // 3
			{bob, Event{Action: "login", ResourceType: "user", ResourceID: "bob"}},                                                     // 4
			{bob, Event{Action: "username.check", ResourceType: "user", ResourceID: "bob"}},                                            // 5
			{alice, Event{Action: "token.create", ResourceType: "token", ResourceID: "7"}},                                             // 6
			{bob, Event{Action: "user.delete", ResourceType: "user", ResourceID: "carol", Outcome: Denied}},                            // 7
		}
		for _, ev := range events {
			clock.Add(time.Minute)
			if err := l.RecordAlone(ev.ctx, ev.e); err != nil {
				t.Fatal(err)
			}
		}
		ctx := context.Background()
		seqs := func(f Filter) string {
			t.Helper()
			got, err := l.List(ctx, f)
			if err != nil {
				t.Fatalf("List(%+v): %v", f, err)
			}
			var s []string
			for _, e := range got {
				s = append(s, fmt.Sprint(e.Seq))
			}
			return strings.Join(s, ",")
		}
		for _, c := range []struct {
			name string
			f    Filter
			want string
		}{
			{"all", Filter{}, "1,2,3,4,5,6,7"},
			{"desc", Filter{Desc: true}, "7,6,5,4,3,2,1"},
			{"actor", Filter{Actor: "bob"}, "3,4,5,7"},
			{"action exact", Filter{Action: "login"}, "3,4"},
			{"action prefix", Filter{Action: "user.*"}, "1,2,7"},
			{"star alone", Filter{Action: "*"}, "1,2,3,4,5,6,7"},
			{"no wildcard without star", Filter{Action: "user."}, ""},
			{"resource", Filter{ResourceType: "user", ResourceID: "carol"}, "1,2,7"},
			{"resource type", Filter{ResourceType: "token"}, "6"},
			{"outcome", Filter{Outcome: Failure}, "3"},
			{"since", Filter{Since: t0.Add(5 * time.Minute)}, "5,6,7"},
			{"until", Filter{Until: t0.Add(3 * time.Minute)}, "1,2"},
			{"range", Filter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, "2,3"},
			{"combined", Filter{Actor: "bob", Action: "login", Outcome: Success}, "4"},
			{"page 1", Filter{Limit: 3}, "1,2,3"},
			{"page 2", Filter{Limit: 3, AfterSeq: 3}, "4,5,6"},
			{"page 3", Filter{Limit: 3, AfterSeq: 6}, "7"},
			{"desc page 2", Filter{Limit: 3, AfterSeq: 5, Desc: true}, "4,3,2"},
			{"filtered page", Filter{Actor: "bob", Limit: 2, AfterSeq: 3}, "4,5"},
		} {
			if got := seqs(c.f); got != c.want {
				t.Errorf("%s: seqs = %q, want %q", c.name, got, c.want)
			}
		}
		if _, err := l.List(ctx, Filter{Limit: -1}); !errs.Is(err, errs.Invalid) {
			t.Errorf("negative limit: %v", err)
		}

		got, err := l.List(ctx, Filter{Limit: 1})
		if err != nil || len(got) != 1 {
			t.Fatalf("List = %v, %v", got, err)
		}
		e := got[0]
		want := Entry{Seq: 1, Time: t0.Add(time.Minute), Actor: "alice", ActorID: 1, Action: "user.create", ResourceType: "user",
			ResourceID: "carol", Outcome: Success, RequestID: "req-alice", ClientAddr: "10.0.0.1", PrevHash: "", Hash: e.Hash}
		d := e.Detail
		e.Detail = nil
		if fmt.Sprint(e) != fmt.Sprint(want) || e.Time.Location() != time.UTC || d["role"] != "viewer" || len(e.Hash) != 64 {
			t.Errorf("entry = %+v detail %v\nwant  %+v", e, d, want)
		}
	})
}

func TestRecordStoresHostileText(t *testing.T) {
	storetest.Each(t, Migrations(), func(t *testing.T, db *store.DB) {
		l := New(db, Options{})
		ctx := actor.With(context.Background(), actor.Actor{Name: "anonymous", ClientAddr: "1.2.3.4\x00"})
		// A failed login records the name the client sent, whatever it is.
		if err := l.RecordAlone(ctx, Event{Action: "login", Outcome: Failure, ResourceType: "user", ResourceID: "bad\x00name\xff",
			Detail: map[string]any{"raw": "a\x00b\xfe"}}); err != nil {
			t.Fatal(err)
		}
		got, err := l.List(ctx, Filter{})
		if err != nil || len(got) != 1 || got[0].ResourceID != "bad\uFFFDname\uFFFD" || got[0].ClientAddr != "1.2.3.4\uFFFD" {
			t.Fatalf("List = %+v, %v", got, err)
		}
		if rep := verify(t, l); !rep.OK {
			t.Errorf("report = %+v", rep)
		}
	})
}
