package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Versions int64 // versions checked
	Chunks   int64 // distinct chunks read
	Bytes    int64 // bytes read and hashed
	// Damaged lists each chunk or manifest that is missing or does not
	// match its hash, by hash; empty when everything is sound.
	Damaged []DamagedObject
}

// DamagedObject is a chunk or manifest Verify could not read back whole.
type DamagedObject struct {
	Hash    string
	Problem string   // "missing", or what is wrong with the bytes
	UsedBy  []string // "name@version:path" (":manifest" for a manifest), sorted
}

// Verify reads back every chunk of the given versions (all live versions
// when refs is empty) and checks it against its hash, the way get would,
// without writing anything: a damaged pack or chunk file is otherwise only
// noticed when its data is next read. Each distinct chunk is read once,
// several at a time. Damage is reported, not returned as an error; an
// error means the check itself could not run (a bad reference, the
// database).
func (s *Service) Verify(ctx context.Context, refs []string, progress func(done, total int64)) (VerifyReport, error) {
	if len(refs) == 0 {
		all, err := s.liveRefs(ctx)
		if err != nil {
			return VerifyReport{}, err
		}
		refs = all
	}
	var rep VerifyReport
	size := map[string]int64{}
	users := map[string][]string{}
	var order []string
	damaged := map[string]string{}
	for _, ref := range refs {
		v, err := s.Resolve(ctx, ref)
		if err != nil {
			return VerifyReport{}, err
		}
		rep.Versions++
		m, err := s.manifest(ctx, v)
		if err != nil {
			if errors.Is(err, ErrCorrupt) || errs.Is(err, errs.NotFound) {
				damaged[v.ManifestHash] = problemOf(err)
				users[v.ManifestHash] = append(users[v.ManifestHash], v.Ref()+":manifest")
				continue
			}
			return VerifyReport{}, err
		}
		for _, f := range m.Files {
			for _, c := range f.ChunkList() {
				if _, seen := size[c.Hash]; !seen {
					size[c.Hash] = c.Size
					order = append(order, c.Hash)
				}
				users[c.Hash] = append(users[c.Hash], v.Ref()+":"+f.Path)
			}
		}
	}
	var total int64
	for _, h := range order {
		total += size[h]
	}
	var (
		mu   sync.Mutex
		done atomic.Int64
	)
	open, err := s.chunkOpener(ctx, order)
	if err != nil {
		return VerifyReport{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Workers)
	for _, h := range order {
		g.Go(func() error {
			n, problem, err := verifyChunk(gctx, open, h, size[h])
			if err != nil {
				return err
			}
			d := done.Add(n)
			mu.Lock()
			defer mu.Unlock()
			if problem != "" {
				damaged[h] = problem
			}
			if progress != nil {
				progress(d, total)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return VerifyReport{}, err
	}
	rep.Chunks, rep.Bytes = int64(len(order)), done.Load()
	for h, problem := range damaged {
		u := slices.Clone(users[h])
		slices.Sort(u)
		rep.Damaged = append(rep.Damaged, DamagedObject{Hash: h, Problem: problem, UsedBy: slices.Compact(u)})
	}
	slices.SortFunc(rep.Damaged, func(a, b DamagedObject) int { return strings.Compare(a.Hash, b.Hash) })
	return rep, nil
}

// verifyChunk reads a chunk whole, opened by open (see chunkOpener), and
// checks its hash; problem says what is wrong with it, if anything. n is
// the bytes read.
func verifyChunk(ctx context.Context, open func(context.Context, string) (io.ReadCloser, error), hash string, size int64) (n int64, problem string, err error) {
	rc, err := open(ctx, hash)
	if errs.Is(err, errs.NotFound) {
		return 0, "missing", nil
	}
	if err != nil {
		return 0, "", err
	}
	defer rc.Close()
	vr := &verifyReader{r: rc, h: blake3.New(), want: hash}
	n, err = io.Copy(io.Discard, io.LimitReader(vr, size+1))
	switch {
	case errors.Is(err, ErrCorrupt):
		return n, problemOf(err), nil
	case err != nil && errors.Is(err, ctx.Err()):
		return n, "", err
	case err != nil:
		return n, fmt.Sprintf("unreadable: %v", err), nil
	case n != size:
		return n, fmt.Sprintf("%d bytes, the manifest says %d", n, size), nil
	}
	return n, "", nil
}

// problemOf words a read failure of a stored object for a report.
func problemOf(err error) string {
	if errs.Is(err, errs.NotFound) {
		return "missing"
	}
	return "does not match its hash"
}

// liveRefs returns name@version of every live version, by name and
// version.
func (s *Service) liveRefs(ctx context.Context) ([]string, error) {
	sets, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range sets {
		vs, err := s.Versions(ctx, d.Name)
		if err != nil {
			return nil, err
		}
		for i := len(vs) - 1; i >= 0; i-- { // oldest first
			out = append(out, vs[i].Ref())
		}
	}
	return out, nil
}
