package httpapi

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/audit"
	"github.com/mlcycle/mlcycle/internal/store"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
	"github.com/mlcycle/mlcycle/internal/tracking"
)

// TestMLflowLogBatchGroupCommit drives concurrent runs/log-batch requests
// through a server whose tracking service commits them in groups: two
// requests that log one param with different values at once get exactly
// one 400, and every accepted batch is stored.
func TestMLflowLogBatchGroupCommit(t *testing.T) {
	migs := append(audit.Migrations(), tracking.Migrations()...)
	storetest.Each(t, migs, func(t *testing.T, db *store.DB) {
		svc := tracking.New(db, audit.New(db, audit.Options{}), tracking.Options{})
		svc.Start()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := svc.Stop(ctx); err != nil {
				t.Error(err)
			}
		})
		env := newEnv(t, func(d *Deps) { d.Tracking = svc })
		const api = "/api/2.0/mlflow"
		runID := dig(t, call(t, env, "POST", api+"/runs/create", `{"experiment_id":"0"}`, 200, trkEditor), "run", "info", "run_id").(string)

		const rounds = 10
		for round := range rounds {
			var wg sync.WaitGroup
			var status [2]int
			var body [2]string
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res := env.do(t, "POST", api+"/runs/log-batch", fmt.Sprintf(`{"run_id":%q,
						"metrics":[{"key":"m%d","value":%d,"timestamp":1,"step":%d}],
						"params":[{"key":"p%d","value":"v%d"}]}`, runID, i, round, round, round, i), trkEditor)
					status[i], body[i] = res.status, res.body
				}()
			}
			wg.Wait()
			okCount := 0
			for i := range 2 {
				switch status[i] {
				case 200:
					okCount++
				case 400:
					if !strings.Contains(body[i], "INVALID_PARAMETER_VALUE") || !strings.Contains(body[i], "Changing param values is not allowed") {
						t.Fatalf("round %d: 400 body %s", round, body[i])
					}
				default:
					t.Fatalf("round %d: status %d: %s", round, status[i], body[i])
				}
			}
			if okCount != 1 {
				t.Fatalf("round %d: %d of 2 requests succeeded: %v %v", round, okCount, status, body)
			}
		}
		run := call(t, env, "GET", api+"/runs/get?run_id="+runID, "", 200, trkViewer)
		params, _ := dig(t, run, "run", "data", "params").([]any)
		if len(params) != rounds {
			t.Fatalf("%d params stored, want %d", len(params), rounds)
		}
	})
}
