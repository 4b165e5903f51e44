package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// AuditLister reads the audit log.
type AuditLister interface {
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// AuditFilter selects audit entries; zero fields match everything. Entries
// come in ascending Seq order, after AfterSeq, at most Limit of them.
type AuditFilter struct {
	Actor, Action, ResourceType, ResourceID, Outcome string
	Since, Until                                     time.Time
	AfterSeq                                         int64
	Limit                                            int
}

// AuditEntry is one audit record; Hash chains it to the previous one.
type AuditEntry struct {
	Seq          int64          `json:"seq"`
	Time         time.Time      `json:"time"`
	Actor        string         `json:"actor"`
	ActorID      int64          `json:"actor_id"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Outcome      string         `json:"outcome"`
	RequestID    string         `json:"request_id"`
	ClientAddr   string         `json:"client_addr"`
	Detail       map[string]any `json:"detail,omitempty"`
	Hash         string         `json:"hash"`
}

const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

type auditResponse struct {
	Entries []AuditEntry `json:"entries"`
	// NextAfterSeq is the after_seq for the next page; absent on the last.
	NextAfterSeq int64 `json:"next_after_seq,omitempty"`
}

func (a *API) listAudit(r *http.Request) (any, error) {
	if a.audit == nil {
		return nil, errs.E(errs.Invalid, "this server has no audit log")
	}
	f, err := parseAuditFilter(r)
	if err != nil {
		return nil, err
	}
	entries, err := a.audit.ListAudit(r.Context(), f)
	if err != nil {
		return nil, err
	}
	resp := auditResponse{Entries: entries}
	if resp.Entries == nil {
		resp.Entries = []AuditEntry{}
	}
	if len(entries) == f.Limit {
		resp.NextAfterSeq = entries[len(entries)-1].Seq
	}
	return resp, nil
}

func parseAuditFilter(r *http.Request) (AuditFilter, error) {
	q, err := strictQuery(r)
	if err != nil {
		return AuditFilter{}, err
	}
	f := AuditFilter{
		Actor:        q.Get("actor"),
		Action:       q.Get("action"),
		ResourceType: q.Get("resource_type"),
		ResourceID:   q.Get("resource_id"),
		Outcome:      q.Get("outcome"),
		Limit:        defaultAuditLimit,
	}
	if f.Since, err = queryTime(q.Get("since"), "since"); err != nil {
		return f, err
	}
	if f.Until, err = queryTime(q.Get("until"), "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, errs.E(errs.Invalid, "until must not be before since")
	}
	if s := q.Get("after_seq"); s != "" {
		if f.AfterSeq, err = strconv.ParseInt(s, 10, 64); err != nil || f.AfterSeq < 0 {
			return f, errs.E(errs.Invalid, "after_seq must be a non-negative integer")
		}
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > maxAuditLimit {
			return f, errs.E(errs.Invalid, "limit must be an integer from 1 to %d", maxAuditLimit)
		}
	}
	return f, nil
}

func queryTime(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errs.E(errs.Invalid, "%s must be an RFC 3339 time such as 2025-01-02T15:04:05Z", name)
	}
	return t, nil
}
