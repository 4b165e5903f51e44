package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Report is the result of Verify.
type Report struct {
	Checked  int64  `json:"checked"`   // events whose hash and link were checked
	OK       bool   `json:"ok"`        // the whole chain and the head agree
	HeadSeq  int64  `json:"head_seq"`  // seq of the last event according to the head
	HeadHash string `json:"head_hash"` // keep a copy elsewhere to detect a full rewrite
	FirstBad int64  `json:"first_bad,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// verifyPage bounds memory: events are read in pages by seq, never at once.
const verifyPage = 1000

// Verify recomputes every hash in seq order and checks each link and the
// head. It stops at the first problem and reports it; the error is for
// failures to read. progress, when not nil, is called after each page with
// the number of events checked so far. Events appended while Verify runs are
// not checked (the head is read first), but cannot make it fail.
func (l *Log) Verify(ctx context.Context, progress func(checked int64)) (Report, error) {
	var rep Report
	bad := func(seq int64, format string, args ...any) (Report, error) {
		rep.FirstBad = seq
		rep.Problem = fmt.Sprintf(format, args...)
		return rep, nil
	}
	headSeq, headHash, ok, err := l.readHead(ctx)
	if err != nil {
		return rep, err
	}
	if !ok {
		return bad(0, "the head row is missing (deleted)")
	}
	rep.HeadSeq, rep.HeadHash = headSeq, headHash

	var last int64
	lastHash := "" // the first event links to the empty string
	for last < headSeq {
		rows, err := l.db.Query(ctx, "SELECT "+columns+" FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
			last, headSeq, verifyPage)
		if err != nil {
			return rep, fmt.Errorf("verifying audit log: %w", err)
		}
		n := 0
		for rows.Next() {
			r, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return rep, fmt.Errorf("verifying audit log: %w", err)
			}
			n++
			switch {
			case r.Seq != last+1:
				rows.Close()
				return bad(last+1, "%s: chain jumps from %d to %d (deleted)", missing(last+1, r.Seq-1), last, r.Seq)
			case r.Hash != r.computeHash():
				rows.Close()
				return bad(r.Seq, "event %d: content does not match its hash (altered)", r.Seq)
			case r.PrevHash != lastHash:
				rows.Close()
				return bad(r.Seq, "event %d: its link does not match the hash of event %d (an event was replaced, inserted or reordered)", r.Seq, last)
			}
			last, lastHash = r.Seq, r.Hash
			rep.Checked++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return rep, fmt.Errorf("verifying audit log: %w", err)
		}
		if progress != nil && n > 0 {
			progress(rep.Checked)
		}
		if n == 0 {
			break
		}
	}
	if last < headSeq {
		return bad(last+1, "%s: the head records %d events but the log ends at %d (deleted tail)", missing(last+1, headSeq), headSeq, last)
	}
	if lastHash != headHash {
		return bad(headSeq, "event %d: hash does not match the one recorded in the head (last event replaced, or head altered)", headSeq)
	}

	// Rows past the head were not written by Record, which moves the head in
	// the same transaction. Read the highest seq before the head again, so a
	// commit in between can only make the head larger.
	var maxSeq int64
	if err := l.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&maxSeq); err != nil {
		return rep, fmt.Errorf("verifying audit log: %w", err)
	}
	nowSeq, _, ok, err := l.readHead(ctx)
	if err != nil {
		return rep, err
	}
	if !ok {
		return bad(0, "the head row is missing (deleted)")
	}
	if maxSeq > nowSeq {
		return bad(nowSeq+1, "event %d: stored after the head (seq %d) without moving it (inserted or forged)", nowSeq+1, nowSeq)
	}
	rep.OK = true
	return rep, nil
}

// readHead returns the head; ok is false when its row is gone.
func (l *Log) readHead(ctx context.Context) (seq int64, hash string, ok bool, err error) {
	err = l.db.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("verifying audit log: reading head: %w", err)
	}
	return seq, hash, true, nil
}

func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("event %d missing", from)
	}
	return fmt.Sprintf("events %d-%d missing", from, to)
}
