package dataset

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/blob"
	"github.com/mlcycle/mlcycle/internal/errs"
	"github.com/mlcycle/mlcycle/internal/store"
)

// DefaultGracePeriod is how long GC keeps chunks that no live version
// needs, counted from when they were last registered or reused (or, for
// objects never registered, written). It protects adds and pushes in flight.
const DefaultGracePeriod = time.Hour

// leaseTTL is how long a GC lease lasts unless renewed; a crashed GC blocks
// uploads for at most this long.
const leaseTTL = 10 * time.Minute

// gcDeleters is the number of objects deleted at once.
const gcDeleters = 8

// GCOptions tune GC.
type GCOptions struct {
	// GracePeriod keeps unreferenced chunks younger than this. Zero means
	// DefaultGracePeriod. A very short one is only safe when nothing is
	// adding or pushing: an upload it overlaps then fails and must be re-run
	// (it never records a broken version).
	GracePeriod time.Duration
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
}

// GCReport tells what GC removed (or, in a dry run, would remove).
type GCReport struct {
	Chunks  int64 // objects removed, manifests and orphaned packs included
	Bytes   int64
	Orphans int64 // of which stored by uploads that never registered them
	DryRun  bool
	// Young and YoungBytes count the registered chunks no live version
	// needs that were kept because they were used within the grace period
	// (those of a version removed just now, for one).
	Young      int64
	YoungBytes int64
	Grace      time.Duration // the grace period applied
	// Packs counts pack files removed (no chunk in them is registered any
	// more), Repacked those rewritten because less than half of their
	// bytes were still needed. A removed chunk's bytes in a pack are freed
	// on disk when its pack is removed or rewritten.
	Packs    int64
	Repacked int64
	// KeptInPacks is the part of Bytes that stays on disk for now: removed
	// chunks in packs still more than half in use (or written within the
	// grace period), freed when a later gc removes or rewrites their pack.
	KeptInPacks int64
}

// GC removes the chunks no live version needs: those of removed versions
// and those left by interrupted adds, once older than the grace period. It
// holds a lease while it works; uploads and recordings wait for it
// (errs.Unavailable) and a second GC is refused (errs.State). The run is
// audited as dataset.gc.
func (s *Service) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	grace := opts.GracePeriod
	if grace < 0 {
		return GCReport{}, errs.E(errs.Invalid, "grace period %s is negative", grace)
	}
	if grace == 0 {
		grace = DefaultGracePeriod
	}
	now := s.now()
	cutoff := now.Add(-grace)
	rep := GCReport{DryRun: opts.DryRun, Grace: grace}

	var l *lease
	if !opts.DryRun {
		var err error
		if l, err = s.takeLease(ctx); err != nil {
			return GCReport{}, err
		}
	}
	unused, err := s.unusedChunks(ctx, cutoff.UnixMilli())
	if err != nil {
		return s.endGC(ctx, l, rep, grace, err)
	}
	orphans, packObjs, err := s.orphanObjects(ctx, cutoff)
	if err != nil {
		return s.endGC(ctx, l, rep, grace, err)
	}
	plan, err := s.planPacks(ctx, packObjs, unused)
	if err != nil {
		return s.endGC(ctx, l, rep, grace, err)
	}
	for _, c := range unused {
		rep.Chunks++
		rep.Bytes += c.Size
	}
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(c.size), 0) FROM dataset_chunks c
		WHERE c.touched_at >= ? AND NOT EXISTS (
			SELECT 1 FROM dataset_version_chunks vc JOIN dataset_versions v ON v.id = vc.version_id
			WHERE vc.chunk_id = c.id AND v.deleted = 0)`, cutoff.UnixMilli()).Scan(&rep.Young, &rep.YoungBytes); err != nil {
		return s.endGC(ctx, l, rep, grace, fmt.Errorf("counting unused chunks within the grace period: %w", err))
	}
	for _, c := range orphans {
		rep.Chunks++
		rep.Orphans++
		rep.Bytes += c.Size
	}
	for _, p := range plan.orphans {
		rep.Chunks++
		rep.Orphans++
		rep.Bytes += p.size
	}
	rep.Packs = int64(len(plan.orphans) + len(plan.emptied))
	rep.Repacked = int64(len(plan.repack))
	rep.KeptInPacks = plan.kept
	if opts.DryRun {
		return rep, nil
	}
	if err := s.forgetChunks(ctx, unused); err != nil {
		return s.endGC(ctx, l, GCReport{}, grace, err)
	}
	loose := orphans
	for _, c := range unused {
		if c.pack == "" {
			loose = append(loose, c)
		}
	}
	if err = s.deleteObjects(ctx, l, loose); err == nil {
		err = s.collectPacks(ctx, l, plan)
	}
	return s.endGC(ctx, l, rep, grace, err)
}

// unusedChunks lists registered chunks that no live version needs and
// nothing registered or reused since cutoff (Unix ms).
func (s *Service) unusedChunks(ctx context.Context, cutoff int64) ([]gcChunk, error) {
	rows, err := s.db.Query(ctx, `SELECT c.id, c.hash, c.size, c.pack FROM dataset_chunks c
		WHERE c.touched_at < ? AND NOT EXISTS (
			SELECT 1 FROM dataset_version_chunks vc JOIN dataset_versions v ON v.id = vc.version_id
			WHERE vc.chunk_id = c.id AND v.deleted = 0)`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("finding unused chunks: %w", err)
	}
	defer rows.Close()
	var out []gcChunk
	for rows.Next() {
		var c gcChunk
		if err := rows.Scan(&c.id, &c.Hash, &c.Size, &c.pack); err != nil {
			return nil, fmt.Errorf("finding unused chunks: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding unused chunks: %w", err)
	}
	return out, nil
}

type gcChunk struct {
	id   int64 // 0 for an orphan object
	Hash string
	Size int64
	pack string // the pack holding it, "" for an object of its own
}

// orphanObjects lists objects under cas/ that have no row and were written
// before cutoff: what uploads left when interrupted between writing an
// object and registering it. It also returns the pack files written before
// cutoff, for planPacks. Keys that are neither chunk keys nor pack keys are
// left alone.
func (s *Service) orphanObjects(ctx context.Context, cutoff time.Time) ([]gcChunk, []packObject, error) {
	var out, batch []gcChunk
	var packs []packObject
	check := func() error {
		if len(batch) == 0 {
			return nil
		}
		hashes := make([]string, len(batch))
		for i, c := range batch {
			hashes[i] = c.Hash
		}
		known, err := knownChunks(ctx, s.db, hashes)
		if err != nil {
			return err
		}
		for _, c := range batch {
			if _, ok := known[c.Hash]; !ok {
				out = append(out, c)
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.blobs.Walk(ctx, casPrefix, func(info blob.Info) error {
		if !info.ModTime.Before(cutoff) {
			return nil
		}
		if name, ok := packOfKey(info.Key); ok {
			packs = append(packs, packObject{name: name, size: info.Size})
			return nil
		}
		hash, ok := hashOfKey(info.Key)
		if !ok {
			return nil
		}
		batch = append(batch, gcChunk{Hash: hash, Size: info.Size})
		if len(batch) == batchSize {
			return check()
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing stored chunks: %w", err)
	}
	if err := check(); err != nil {
		return nil, nil, err
	}
	return out, packs, nil
}

// hashOfKey returns the hash of a chunk key cas/<hh>/<hash>.
func hashOfKey(key string) (string, bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[0] != casPrefix || checkHash("", parts[2]) != nil || parts[1] != parts[2][:2] {
		return "", false
	}
	return parts[2], true
}

// forgetChunks deletes the rows of unused chunks, and first the chunk
// references of removed versions (which keep their own rows).
func (s *Service) forgetChunks(ctx context.Context, unused []gcChunk) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM dataset_version_chunks
			WHERE version_id IN (SELECT id FROM dataset_versions WHERE deleted = 1)`); err != nil {
			return fmt.Errorf("dropping chunk references of removed versions: %w", err)
		}
		for start := 0; start < len(unused); start += batchSize {
			part := unused[start:min(start+batchSize, len(unused))]
			args := make([]any, len(part))
			for i, c := range part {
				args[i] = c.id
			}
			if _, err := tx.Exec(ctx, `DELETE FROM dataset_chunks WHERE id IN (`+placeholders(len(part))+`)`, args...); err != nil {
				return fmt.Errorf("forgetting unused chunks: %w", err)
			}
		}
		return nil
	})
}

// deleteObjects removes the objects, renewing the lease as it goes. An
// object already gone is fine.
func (s *Service) deleteObjects(ctx context.Context, l *lease, chunks []gcChunk) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(gcDeleters)
	for _, c := range chunks {
		if gctx.Err() != nil {
			break
		}
		if err := l.renewIfDue(gctx, s); err != nil {
			return err
		}
		g.Go(func() error {
			if err := s.blobs.Delete(gctx, ChunkKey(c.Hash)); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return fmt.Errorf("deleting chunk %s: %w", c.Hash, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// lease is a held GC lease.
type lease struct {
	holder  string
	mu      sync.Mutex
	renewed time.Time
}

func (s *Service) takeLease(ctx context.Context) (*lease, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	l := &lease{holder: hex.EncodeToString(rnd[:]), renewed: time.Now()}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.nowMS()
		res, err := tx.Exec(ctx, `UPDATE dataset_cas_state SET lease_holder = ?, lease_until = ?, gc_epoch = gc_epoch + 1
			WHERE id = 1 AND (lease_holder = '' OR lease_until <= ?)`, l.holder, now+leaseTTL.Milliseconds(), now)
		if err != nil {
			return fmt.Errorf("taking the gc lease: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("taking the gc lease: %w", err)
		} else if n == 0 {
			return errs.E(errs.State, "another dataset garbage collection is running")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// renewIfDue extends the lease when a third of its life has passed.
func (l *lease) renewIfDue(ctx context.Context, s *Service) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.renewed) < leaseTTL/3 {
		return nil
	}
	res, err := s.db.Exec(ctx, `UPDATE dataset_cas_state SET lease_until = ? WHERE id = 1 AND lease_holder = ?`,
		s.nowMS()+leaseTTL.Milliseconds(), l.holder)
	if err != nil {
		return fmt.Errorf("renewing the gc lease: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.New("the gc lease expired while collecting; nothing unsafe happened, run gc again")
	}
	l.renewed = time.Now()
	return nil
}

// endGC releases the lease and audits the run (also a failed one, with what
// was done before the failure).
func (s *Service) endGC(ctx context.Context, l *lease, rep GCReport, grace time.Duration, runErr error) (GCReport, error) {
	if l == nil {
		return rep, runErr
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE dataset_cas_state SET lease_holder = '', lease_until = 0 WHERE id = 1 AND lease_holder = ?`,
			l.holder); err != nil {
			return fmt.Errorf("releasing the gc lease: %w", err)
		}
		e := audit.Event{Action: "dataset.gc", ResourceType: resCAS, ResourceID: casPrefix, Detail: map[string]any{
			"chunks": rep.Chunks, "bytes": rep.Bytes, "orphans": rep.Orphans, "grace_seconds": int64(grace.Seconds()),
		}}
		if runErr != nil {
			e.Outcome = audit.Failure
			e.Detail["error"] = runErr.Error()
		}
		if err := s.log.Record(ctx, tx, e); err != nil {
			return fmt.Errorf("recording dataset.gc: %w", err)
		}
		return nil
	})
	if runErr != nil {
		return GCReport{}, runErr
	}
	if err != nil {
		return GCReport{}, err
	}
	return rep, nil
}
