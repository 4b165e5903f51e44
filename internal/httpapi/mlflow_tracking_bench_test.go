package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// BenchmarkMLflowLogBatch drives runs/log-batch through a real HTTP server
// the way bench/tracking does: 16 clients, each with its own run, each
// request 100 metric points (10 keys × 10 steps), the first with 10 params.
// Profile the server side with
//
//	go test -run '^$' -bench MLflowLogBatch -benchtime 4000x -cpuprofile cpu.out ./internal/httpapi/
func BenchmarkMLflowLogBatch(b *testing.B) {
	const clients = 16
	migs := append(audit.Migrations(), tracking.Migrations()...)
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			var db *store.DB
			if engine == "postgres" {
				if os.Getenv("TEST_DATABASE_URL") == "" {
					b.Skip("PostgreSQL not available: set TEST_DATABASE_URL (eval \"$(scripts/pg-env)\")")
				}
				db = storetest.Postgres(b, migs)
			} else {
				db = storetest.SQLite(b, migs)
			}
			ctx := context.Background()
			svc := tracking.New(db, audit.New(db, audit.Options{}), tracking.Options{})
			svc.Start()
			b.Cleanup(func() { _ = svc.Stop(context.Background()) })
			// Info-level text logging to nowhere: the access log's formatting
			// cost stays in, as on a default server.
			api, err := New(Deps{
				Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
				Tracking: svc,
			})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(api.Handler())
			b.Cleanup(srv.Close)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			b.Cleanup(client.CloseIdleConnections)

			runs := make([]string, clients)
			for i := range runs {
				r, err := svc.CreateRun(ctx, tracking.CreateRunInput{})
				if err != nil {
					b.Fatal(err)
				}
				runs[i] = r.Info.RunID
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Value
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for ci := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						body := logBatchBody(runs[ci], int(i/clients), int(i) == ci)
						res, err := client.Post(srv.URL+"/api/2.0/mlflow/runs/log-batch", "application/json", bytes.NewReader(body))
						if err != nil {
							failed.Store(err)
							return
						}
						msg, _ := io.ReadAll(res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusOK {
							failed.Store(fmt.Errorf("status %d: %s", res.StatusCode, msg))
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// cpuTime is the user and system CPU time of this process so far: on a
// busy machine it compares versions better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// logBatchBody is batch n of a run: keys m0..m9 at steps n*10..n*10+9.
func logBatchBody(runID string, n int, params bool) []byte {
	type kv struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	type metric struct {
		Key       string  `json:"key"`
		Value     float64 `json:"value"`
		Timestamp int64   `json:"timestamp"`
		Step      int64   `json:"step"`
	}
	req := struct {
		RunID   string   `json:"run_id"`
		Metrics []metric `json:"metrics"`
		Params  []kv     `json:"params,omitempty"`
	}{RunID: runID}
	for s := range 10 {
		step := int64(n*10 + s)
		for k := range 10 {
			req.Metrics = append(req.Metrics, metric{Key: "m" + strconv.Itoa(k), Value: 0.5 + float64(step%97)/1000 + float64(k)/7,
				Timestamp: 1_700_000_000_000 + step, Step: step})
		}
	}
	if params {
		for k := range 10 {
			req.Params = append(req.Params, kv{Key: "p" + strconv.Itoa(k), Value: strconv.Itoa(k)})
		}
	}
	b, _ := json.Marshal(req)
	return b
}

// BenchmarkDecodeLogBatch decodes one log-batch body of 100 metrics.
func BenchmarkDecodeLogBatch(b *testing.B) {
	body := logBatchBody("0123456789abcdef0123456789abcdef", 7, true)
	b.ReportAllocs()
	for b.Loop() {
		var req logBatchRequest
		r, _ := http.NewRequest("POST", "/", bytes.NewReader(body))
		if err := decodeTracking(r, &req); err != nil {
			b.Fatal(err)
		}
	}
}
