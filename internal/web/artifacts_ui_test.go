package web

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// onePixelPNG is a valid 1x1 PNG.
var onePixelPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" +
	"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

func TestArtifactBrowser(t *testing.T) {
	eachData(t, func(t *testing.T, env *dataEnv) {
		exp := env.experiment(t, "art")
		run := env.run(t, exp, "with-files", time.Now().UnixMilli(), nil, nil)
		uri, err := env.tr.RunArtifactURI(env.ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		root := strings.TrimPrefix(uri, "mlflow-artifacts:/")
		var csv strings.Builder
		for i := range 300 {
			fmt.Fprintf(&csv, "%d,row-%d\n", i, i)
		}
		files := map[string][]byte{
			"notes.txt":         []byte("hello <script>alert(1)</script> & bye"),
			"plots/loss.png":    onePixelPNG,
			"plots/evil.svg":    []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`),
			"data/train.csv":    []byte(csv.String()),
			"model/MLmodel":     []byte("flavors:\n  python_function: {}\n"),
			"model/weights.bin": {0, 1, 2, 3},
			"big.log":           bytes.Repeat([]byte("0123456789abcdef"), (maxPreviewBytes/16)+10),
			"report <i>.md":     []byte("# title"),
		}
		for name, b := range files {
			if _, err := env.blobs.Put(env.ctx, root+"/"+name, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
		// Something beside the run's artifacts that must stay out of reach.
		if _, err := env.blobs.Put(env.ctx, "secret.txt", strings.NewReader("top secret")); err != nil {
			t.Fatal(err)
		}
		page := "/runs/" + run + "/artifacts"
		raw := "/runs/" + run + "/artifact"

		// The run page lists the top folder: folders first, with sizes.
		p := env.mustGet(t, "/runs/"+run, 200)
		wantContains(t, p, `href="`+page+`?path=plots">plots/</a>`, `href="`+page+`?path=notes.txt">notes.txt</a>`, "37 B",
			"report &lt;i&gt;.md")
		if strings.Index(p.body, ">plots/<") > strings.Index(p.body, ">notes.txt<") {
			t.Error("files listed before folders")
		}

		// A folder, with breadcrumbs.
		p = env.mustGet(t, page+"?path=plots", 200)
		wantContains(t, p, ">loss.png</a>", ">evil.svg</a>", `href="`+page+`">artifacts</a>`)

		// Text is shown escaped.
		p = env.mustGet(t, page+"?path=notes.txt", 200)
		wantContains(t, p, `<pre class="artifact-text">hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; bye</pre>`)
		wantLacks(t, p, "<script>")
		wantContains(t, env.mustGet(t, page+"?path=model/MLmodel", 200), "python_function")
		wantContains(t, env.mustGet(t, page+"?path="+url.QueryEscape("report <i>.md"), 200), "# title")

		// CSV: the first 200 lines.
		p = env.mustGet(t, page+"?path=data/train.csv", 200)
		wantContains(t, p, "199,row-199\n", "Showing the first 200 lines.")
		wantLacks(t, p, "200,row-200")

		// Large text: the first MiB.
		p = env.mustGet(t, page+"?path=big.log", 200)
		wantContains(t, p, "Showing the first 1 MiB.")
		if len(p.body) > maxPreviewBytes+20_000 {
			t.Errorf("page of %d bytes for a capped preview", len(p.body))
		}

		// Images through a sandboxed route; SVG and binaries only as downloads.
		p = env.mustGet(t, page+"?path=plots/loss.png", 200)
		wantContains(t, p, `<img src="`+raw+`?path=plots%2Floss.png" alt="loss.png">`)
		p = env.mustGet(t, page+"?path=plots/evil.svg", 200)
		wantContains(t, p, "This file cannot be shown here.", `href="`+raw+`?path=plots%2Fevil.svg&amp;download=1"`)
		wantLacks(t, p, "artifact-image", "onload")
		wantContains(t, env.mustGet(t, page+"?path=model/weights.bin", 200), "This file cannot be shown here.")

		type hdr struct{ ctype, disp string }
		for path, want := range map[string]hdr{
			"plots/loss.png":                 {"image/png", `inline; filename=loss.png`},
			"notes.txt":                      {"text/plain; charset=utf-8", `inline; filename=notes.txt`},
			"notes.txt&download=1":           {"text/plain; charset=utf-8", `attachment; filename=notes.txt`},
			"plots/evil.svg":                 {"image/svg+xml", `attachment; filename=evil.svg`},
			"model/weights.bin":              {"application/octet-stream", `attachment; filename=weights.bin`},
			url.QueryEscape("report <i>.md"): {"text/plain; charset=utf-8", `inline; filename="report <i>.md"`},
		} {
			r := env.mustGet(t, raw+"?path="+path, 200)
			h := r.resp.Header
			if h.Get("Content-Type") != want.ctype || h.Get("Content-Disposition") != want.disp ||
				!strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: headers %v", path, h)
			}
		}
		if r := env.mustGet(t, raw+"?path=plots/loss.png", 200); r.body != string(onePixelPNG) {
			t.Error("image bytes changed on the way")
		}
		env.mustGet(t, raw+"?path=nope.txt", 404)
		env.mustGet(t, page+"?path=nope.txt", 404)

		// Paths that try to leave the run's artifacts.
		for _, bad := range []string{
			"../secret.txt", "../../secret.txt", "plots/../../secret.txt", "/secret.txt", "//secret.txt",
			"..%2fsecret.txt", "%2e%2e/secret.txt", `..\secret.txt`, "file:///etc/passwd", "plots/%00",
			"\x00", "a/\n/b", ".. /secret.txt",
		} {
			q := url.QueryEscape(bad)
			for _, path := range []string{page + "?path=" + q, raw + "?path=" + q} {
				r := env.get(t, path)
				if r.status != 400 {
					t.Errorf("GET %s: %d, want 400", path, r.status)
				}
				if strings.Contains(r.body, "top secret") {
					t.Errorf("GET %s leaked a file outside the run", path)
				}
			}
		}
		env.mustGet(t, raw, 400) // no path: a file route needs one
	})
}
