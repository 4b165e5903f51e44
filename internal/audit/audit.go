// Package audit keeps an append-only, hash-chained log of who did what.
//
// Each event carries the hash of the one before it, and a one-row head table
// holds the seq and hash of the last event, so Verify can tell when an event
// was altered, deleted, reordered or slipped in, including at the tail.
// Events are written inside the caller's transaction: an event exists if and
// only if the change it describes committed.
//
// The chain has no secret key: someone with write access to the database who
// recomputes every hash after their edit is caught only by comparing
// Report.HeadHash with a copy kept elsewhere (a log line, a backup).
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/actor"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// Outcomes of an event.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied" // refused by authorization
)

// lockName serialises writers of the chain, so two transactions never both
// append after the same head (a fork) on PostgreSQL.
const lockName = "mlcycle.audit"

// Event is what a caller records. Who, when and from where come from the
// context and the clock.
type Event struct {
	Action       string // e.g. "user.create", "login"
	ResourceType string // e.g. "user", "token"
	ResourceID   string
	Outcome      string         // Success (the default), Failure or Denied
	Detail       map[string]any // stored as JSON; never put secrets here
}

// Options tune a Log. The zero value is right for a server.
type Options struct {
	Now func() time.Time // defaults to time.Now
}

// Log writes and reads the audit log.
type Log struct {
	db  *store.DB
	now func() time.Time
}

// New returns a Log over db, which must have Migrations applied.
func New(db *store.DB, opts Options) *Log {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Log{db: db, now: opts.Now}
}

// Record appends e inside tx, so the event commits or rolls back with the
// caller's change. Concurrent callers queue on a lock until tx ends; keep
// the rest of such a transaction short.
func (l *Log) Record(ctx context.Context, tx *store.Tx, e Event) error {
	if tx == nil {
		return errors.New("audit record: no transaction")
	}
	r, err := l.newRow(ctx, e)
	if err != nil {
		return err
	}
	if err := tx.Lock(ctx, lockName); err != nil {
		return fmt.Errorf("audit record: %w", err)
	}
	var headSeq int64
	var headHash string
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return fmt.Errorf("audit record: reading head: %w", err)
	}
	// Read the clock under the lock, so times follow seq order (as far as the
	// clock does).
	r.At = l.now().UnixMilli()
	r.Seq = headSeq + 1
	r.PrevHash = headHash
	r.Hash = r.computeHash()
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events
		(seq, at, actor, actor_id, action, resource_type, resource_id, outcome, request_id, client_addr, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.At, r.Actor, r.ActorID, r.Action, r.ResourceType, r.ResourceID, r.Outcome,
		r.RequestID, r.ClientAddr, r.Detail, r.PrevHash, r.Hash); err != nil {
		return fmt.Errorf("audit record: inserting event %d: %w", r.Seq, err)
	}
	// The seq guard makes a fork fail loudly even if the lock were missing.
	res, err := tx.Exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ?`, r.Seq, r.Hash, headSeq)
	if err != nil {
		return fmt.Errorf("audit record: moving head: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("audit record: moving head: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("audit record: head moved under us at event %d", r.Seq)
	}
	return nil
}

// RecordAlone records e in a transaction of its own, for events with no
// change to go with (a failed login, a denied request).
func (l *Log) RecordAlone(ctx context.Context, e Event) error {
	return l.db.InTx(ctx, func(tx *store.Tx) error { return l.Record(ctx, tx, e) })
}

// newRow fills everything but the time and the chain fields.
func (l *Log) newRow(ctx context.Context, e Event) (row, error) {
	if e.Action == "" {
		return row{}, errs.E(errs.Invalid, "audit event has no action")
	}
	switch e.Outcome {
	case "":
		e.Outcome = Success
	case Success, Failure, Denied:
	default:
		return row{}, errs.E(errs.Invalid, "audit outcome %q is not one of success, failure, denied", e.Outcome)
	}
	detail := "{}"
	if len(e.Detail) > 0 {
		// encoding/json writes map keys sorted, at every depth.
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return row{}, fmt.Errorf("audit record: encoding detail of %s: %w", e.Action, err)
		}
		detail = string(b)
	}
	a := actor.From(ctx)
	return row{
		Actor:        clean(a.Name),
		ActorID:      a.UserID,
		Action:       clean(e.Action),
		ResourceType: clean(e.ResourceType),
		ResourceID:   clean(e.ResourceID),
		Outcome:      e.Outcome,
		RequestID:    clean(a.RequestID),
		ClientAddr:   clean(a.ClientAddr),
		Detail:       detail,
	}, nil
}

// clean makes s storable as TEXT on PostgreSQL, which refuses invalid UTF-8
// and NUL: fields such as a login's user name come from clients, and a
// failed login must still be recorded. (encoding/json already does this
// for detail.)
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// row is one audit_events row as stored.
type row struct {
	Seq          int64
	At           int64 // Unix milliseconds
	Actor        string
	ActorID      int64
	Action       string
	ResourceType string
	ResourceID   string
	Outcome      string
	RequestID    string
	ClientAddr   string
	Detail       string // JSON object text, hashed byte for byte
	PrevHash     string
	Hash         string
}

// hashDomain starts every hashed record, so the format can change later
// without an old and a new encoding ever colliding.
const hashDomain = "mlcycle.audit.v1"

// computeHash returns hex(SHA-256(canonical bytes of r)). The canonical bytes
// are, in this order: hashDomain, seq, at, actor, actor_id, action,
// resource_type, resource_id, outcome, request_id, client_addr, detail,
// prev_hash. Integers are 8 bytes big-endian (two's complement); strings are
// their byte length as 8 bytes big-endian, then their bytes. Length prefixes
// make the encoding unambiguous: no two different rows give the same bytes.
// detail is the stored JSON text as is (Record writes it with sorted keys).
func (r *row) computeHash() string {
	h := sha256.New()
	var buf [8]byte
	num := func(v int64) {
		binary.BigEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	str := func(s string) {
		num(int64(len(s)))
		h.Write([]byte(s))
	}
	str(hashDomain)
	num(r.Seq)
	num(r.At)
	str(r.Actor)
	num(r.ActorID)
	str(r.Action)
	str(r.ResourceType)
	str(r.ResourceID)
	str(r.Outcome)
	str(r.RequestID)
	str(r.ClientAddr)
	str(r.Detail)
	str(r.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}
