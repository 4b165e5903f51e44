package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Entry is one recorded event.
type Entry struct {
	Seq          int64          `json:"seq"`
	Time         time.Time      `json:"time"` // UTC, millisecond precision
	Actor        string         `json:"actor"`
	ActorID      int64          `json:"actor_id"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Outcome      string         `json:"outcome"`
	RequestID    string         `json:"request_id"`
	ClientAddr   string         `json:"client_addr"`
	Detail       map[string]any `json:"detail"`
	PrevHash     string         `json:"prev_hash"`
	Hash         string         `json:"hash"`
}

// Filter selects events for List. Empty fields match everything.
type Filter struct {
	Actor        string
	Action       string // exact, or a prefix when it ends in '*' ("user.*")
	ResourceType string
	ResourceID   string
	Outcome      string
	Since        time.Time // at or after (inclusive)
	Until        time.Time // before (exclusive)
	// AfterSeq continues a listing from the last seq of the previous page:
	// events after it in the listing's order (seq > AfterSeq ascending,
	// seq < AfterSeq with Desc). 0 starts from the beginning (or newest).
	AfterSeq int64
	Limit    int  // 0 means 100; more than 1000 is cut to 1000
	Desc     bool // newest first
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

const columns = `seq, at, actor, actor_id, action, resource_type, resource_id, outcome, request_id, client_addr, detail, prev_hash, hash`

// List returns the events that match f, in seq order.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit < 0 || f.AfterSeq < 0 {
		return nil, errs.E(errs.Invalid, "audit listing: limit and after_seq must not be negative")
	}
	limit := f.Limit
	if limit == 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)

	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
		if prefix != "" {
			// substr, not LIKE: LIKE differs in case sensitivity between
			// the engines and treats '_' and '%' in the prefix as wildcards.
			where = append(where, "substr(action, 1, ?) = ?")
			args = append(args, utf8.RuneCountInString(prefix), prefix)
		}
	} else if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.ResourceType != "" {
		add("resource_type = ?", f.ResourceType)
	}
	if f.ResourceID != "" {
		add("resource_id = ?", f.ResourceID)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until.UnixMilli())
	}
	order := "ASC"
	if f.Desc {
		order = "DESC"
		if f.AfterSeq > 0 {
			add("seq < ?", f.AfterSeq)
		}
	} else if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	q := "SELECT " + columns + " FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY seq %s LIMIT %d", order, limit)

	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing audit events: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("listing audit events: %w", err)
		}
		e := Entry{
			Seq: r.Seq, Time: time.UnixMilli(r.At).UTC(), Actor: r.Actor, ActorID: r.ActorID,
			Action: r.Action, ResourceType: r.ResourceType, ResourceID: r.ResourceID, Outcome: r.Outcome,
			RequestID: r.RequestID, ClientAddr: r.ClientAddr, PrevHash: r.PrevHash, Hash: r.Hash,
		}
		if err := json.Unmarshal([]byte(r.Detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("listing audit events: detail of event %d is not JSON: %w", r.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing audit events: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRow(s scanner) (row, error) {
	var r row
	err := s.Scan(&r.Seq, &r.At, &r.Actor, &r.ActorID, &r.Action, &r.ResourceType, &r.ResourceID,
		&r.Outcome, &r.RequestID, &r.ClientAddr, &r.Detail, &r.PrevHash, &r.Hash)
	return r, err
}
