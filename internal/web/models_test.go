package web

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/internal/registry"
)

func TestModelPages(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "fraud-exp")
		run := env.run(t, exp, "train", time.Now().UnixMilli(), nil, nil)
		if _, err := env.reg.CreateRegisteredModel(env.ctx, "fraud <detector>", "Catches fraud.\nSecond line.", []registry.Tag{{Key: "team", Value: "risk"}}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := env.reg.CreateModelVersion(env.ctx, registry.NewVersion{Name: "fraud <detector>", Source: "runs:/" + run + "/model"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := env.reg.SetRegisteredModelAlias(env.ctx, "fraud <detector>", "champion", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := env.reg.TransitionModelVersionStage(env.ctx, "fraud <detector>", 3, "staging", false); err != nil {
			t.Fatal(err)
		}
		if _, err := env.reg.CreateRegisteredModel(env.ctx, "churn", "", nil); err != nil {
			t.Fatal(err)
		}

		p := env.mustGet(t, "/models", 200)
		modelLink := `href="/models/fraud%20%3Cdetector%3E"`
		wantContains(t, p, `class="active" aria-current="page">Models`, modelLink, ">fraud &lt;detector&gt;</a>",
			">v3</td>", "champion → v2", "Catches fraud.", ">churn</a>")
		wantLacks(t, p, "Second line", "<detector>", "will arrive")

		p = env.mustGet(t, "/models?q=CHU", 200)
		wantContains(t, p, ">churn</a>")
		wantLacks(t, p, "fraud")

		p = env.mustGet(t, "/models/"+url.PathEscape("fraud <detector>"), 200)
		wantContains(t, p, "<h1>fraud &lt;detector&gt;</h1>", "Catches fraud.\nSecond line.", "champion → v2",
			`<tr id="v3">`, `<tr id="v1">`, `<span class="badge run">Staging</span>`, `<span class="badge alias">champion</span>`,
			`href="/runs/`+run+`"`, "runs:/"+run+"/model", "READY", ">team</td>", ">risk</td>")
		if i, j := indexOf(p, `<tr id="v3">`), indexOf(p, `<tr id="v1">`); i > j {
			t.Error("versions not newest first")
		}

		wantContains(t, env.mustGet(t, "/models/churn", 200), "No versions yet.", "No description.")
		env.mustGet(t, "/models/nope", 404)
	})
}

func TestModelsPaging(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		for i := range modelsPerPage + 3 {
			if _, err := env.reg.CreateRegisteredModel(env.ctx, fmt.Sprintf("m%03d", i), "", nil); err != nil {
				t.Fatal(err)
			}
		}
		p := env.mustGet(t, "/models", 200)
		wantContains(t, p, ">m000</a>", ">m049</a>")
		wantLacks(t, p, ">m050</a>")
		p2 := env.mustGet(t, link(t, nextLink, p), 200)
		wantContains(t, p2, ">m050</a>", ">m052</a>", "Page 2")
		wantLacks(t, p2, ">m049</a>", `rel="next"`)
		wantContains(t, env.mustGet(t, link(t, prevLink, p2), 200), ">m000</a>")
	})
}

func indexOf(p webPage, s string) int { return strings.Index(p.body, s) }
