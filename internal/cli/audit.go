package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
)

func newAuditCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the tamper-evident audit log",
		Long: `Every change to a resource (and every sign-in, good or bad) writes an audit
event in the same transaction as the change. Events are append-only and
hash-chained: each one's hash covers its content and the previous hash, so an
edit, deletion or reordering breaks the chain and 'audit verify' finds it.`,
	}
	cmd.AddCommand(newAuditListCmd(d), newAuditVerifyCmd(d))
	return cmd
}

func newAuditListCmd(d *deps) *cobra.Command {
	var t target
	var f client.AuditFilter
	var since, until, output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List audit events, newest last",
		Example: `  mlcycle audit ls --actor alice --since 24h
  mlcycle audit ls --action 'user.*' --output json
  mlcycle audit ls --resource user/bob --since 2026-11-01T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var err error
			if f.Since, err = parseWhen(since, "--since"); err != nil {
				return err
			}
			if f.Until, err = parseWhen(until, "--until"); err != nil {
				return err
			}
			if r, _ := cmd.Flags().GetString("resource"); r != "" {
				typ, id, ok := strings.Cut(r, "/")
				f.ResourceType = typ
				if ok {
					f.ResourceID = id
				}
			}
			return t.run(cmd, func(ctx context.Context, a admin) error {
				events, err := a.ListAudit(ctx, f)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(d.stdout, events)
				}
				rows := make([][]string, len(events))
				for i, e := range events {
					rows[i] = []string{itoa(e.Seq), fmtTime(e.Time), e.Actor, e.Action, e.ResourceType + "/" + e.ResourceID, e.Outcome, e.ClientAddr, detailText(e.Detail)}
				}
				return writeTable(d.stdout, []string{"SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "OUTCOME", "CLIENT", "DETAIL"}, rows)
			})
		},
	}
	addTargetFlags(cmd, &t)
	addOutputFlag(cmd, &output)
	fl := cmd.Flags()
	fl.StringVar(&f.Actor, "actor", "", "only events by this user")
	fl.StringVar(&f.Action, "action", "", "only this action, e.g. user.create; a trailing * matches a prefix (user.*)")
	fl.String("resource", "", "only this resource: TYPE or TYPE/ID, e.g. user/bob")
	fl.StringVar(&f.Outcome, "outcome", "", "only success, failure or denied")
	fl.StringVar(&since, "since", "", "only events at or after this time: RFC 3339 or a duration ago like 24h")
	fl.StringVar(&until, "until", "", "only events before this time: RFC 3339 or a duration ago")
	fl.Int64Var(&f.AfterSeq, "after", 0, "only events after this sequence number (paging)")
	fl.IntVar(&f.Limit, "limit", 100, "at most this many events (max 1000)")
	return cmd
}

func newAuditVerifyCmd(d *deps) *cobra.Command {
	var cfg app.Config
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole audit chain; exit 2 if any event was altered, deleted or reordered",
		Long: `Recompute every audit event's hash in order and check the chain links and
the recorded head. Reports the first event whose content or order was altered
or deleted, and exits with status 2 if there is one (1 on other errors).

It reads the database directly (--data-dir or --db), so it works even when the
server is down. Keep the printed head hash somewhere else (a ticket, a log
shipper): a later verify that prints a different head for the same sequence
number shows that the whole chain was rewritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			l, err := app.OpenLocal(ctx, cfg)
			if err != nil {
				return err
			}
			defer l.Close()
			start := time.Now()
			last := time.Now()
			rep, err := l.Audit.Verify(ctx, func(n int64) {
				if time.Since(last) > time.Second {
					fmt.Fprintf(d.stderr, "\rchecked %d events…", n)
					last = time.Now()
				}
			})
			if err != nil {
				return err
			}
			if !rep.OK {
				return &exitError{code: 2, msg: fmt.Sprintf("audit chain BROKEN after checking %d events: %s", rep.Checked, rep.Problem)}
			}
			fmt.Fprintf(d.stdout, "audit chain OK: %d events verified in %v\nhead: seq %d hash %s\n",
				rep.Checked, time.Since(start).Round(time.Millisecond), rep.HeadSeq, rep.HeadHash)
			return nil
		},
	}
	addStoreFlags(cmd, &cfg)
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration meaning that long ago.
func parseWhen(s, flag string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s %q is neither an RFC 3339 time (2026-11-01T12:00:00Z) nor a duration (24h)", flag, s)
}

func detailText(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return strings.Join(parts, " ")
}
