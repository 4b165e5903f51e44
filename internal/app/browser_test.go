package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlcycle/mlcycle/internal/app"
)

// chromium finds the headless browser; in CI (CI=true) its absence fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MLCYCLE_TEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: browser tests must run in CI (./scripts/test installs it)")
	}
	t.Skip("chromium not found: install Debian's chromium or run ./scripts/test")
	return ""
}

// screenshotDir is out/screenshots at the repository root (git-ignored).
func screenshotDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "out", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func browser(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	return ctx, func() { cancelTimeout(); cancelCtx(); cancelAlloc() }
}

// stepper returns a check that fails t, naming the step, when err is set.
func stepper(t *testing.T) func(what string, err error) {
	return func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// screenshotter returns a function that saves a full-page screenshot of
// the page in ctx as out/screenshots/<name>.
func screenshotter(t *testing.T, ctx context.Context) func(name string) {
	step := stepper(t)
	return func(name string) {
		t.Helper()
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		step("taking screenshot "+name, err)
		path := filepath.Join(screenshotDir(t), name)
		step("saving "+name, os.WriteFile(path, shot, 0o644))
		t.Logf("screenshot saved to %s", path)
	}
}

// TestUILogin drives the real UI in headless Chromium with auth on: the
// home page redirects to the login form, signing in shows the server status,
// and a screenshot of it is saved.
func TestUILogin(t *testing.T) {
	s := startServer(t, app.Config{Auth: true, AdminPassword: adminPassword})
	ctx, cancel := browser(t)
	defer cancel()

	step := stepper(t)
	step("opening /", chromedp.Do(ctx, chromedp.Navigate(s.URL()+"/"), chromedp.WaitVisible("#username")))
	loginTitle, err := chromedp.Run(ctx, chromedp.Title())
	step("reading title", err)
	step("signing in", chromedp.Do(ctx,
		chromedp.SendKeys("#username", "admin"),
		chromedp.SendKeys("#password", adminPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("section.cards"),
	))
	url, err := chromedp.Run(ctx, chromedp.Location())
	step("reading location", err)
	statusText, err := chromedp.Run(ctx, chromedp.Text("main"))
	step("reading page", err)
	if !strings.Contains(loginTitle, "Sign in") {
		t.Errorf("login page title = %q", loginTitle)
	}
	if strings.Contains(url, "/login") {
		t.Fatalf("still on the login page after signing in: %s", url)
	}
	for _, want := range []string{"Server status", "sqlite", "admin"} {
		if !strings.Contains(statusText, want) {
			t.Errorf("home page lacks %q; text:\n%s", want, statusText)
		}
	}
	screenshotter(t, ctx)("home-signed-in.png")
}

// TestUIWrongPassword: a wrong password keeps the user on the form with a
// message and the user name filled in.
func TestUIWrongPassword(t *testing.T) {
	s := startServer(t, app.Config{Auth: true, AdminPassword: adminPassword})
	ctx, cancel := browser(t)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL()+"/login"),
		chromedp.WaitVisible("#username"),
		chromedp.SendKeys("#username", "admin"),
		chromedp.SendKeys("#password", "not the password"),
		chromedp.Submit("#password"),
		chromedp.WaitVisible(".error, .alert, [role=alert]"),
	)
	if err != nil {
		t.Fatalf("driving the UI: %v", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	user, err := chromedp.Run(ctx, chromedp.Value("#username"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(body), "invalid username or password") || user != "admin" {
		t.Errorf("user %q, page:\n%s", user, body)
	}
}
