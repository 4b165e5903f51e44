package main_test

// End-to-end tests of the built binary: what a user sees on the command
// line, and what survives kill -9.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/store/storetest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mlcycle-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mlcycle")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mlcycle:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the binary to completion and returns its exit code and output.
func run(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running mlcycle %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBinary starts `mlcycle server` and waits for /health to answer OK.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(binary, append([]string{"server", "--port", strconv.Itoa(port), "--log-level", "warn"}, args...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "OK" {
				return cmd, base
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("server did not answer OK on /health; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := run(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "mlcycle ") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, out, _ = run(t, nil, "", "--help")
	for _, want := range []string{"server", "migrate", "users", "tokens", "audit", "completion"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	code, out, _ = run(t, nil, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: %d", code)
	}
}

// TestStartupFailures: each bad configuration exits non-zero within 5 s with
// one line that names the problem.
func TestStartupFailures(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badConfig, []byte("port: [unclosed\n"), 0o644)
	typoConfig := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typoConfig, []byte("prot: 5000\n"), 0o644)
	busy := freePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", busy))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown db scheme", []string{"--db", "mysql://x/y"}, nil, "unknown database scheme"},
		{"unreachable postgres", []string{"--db", "postgres://u@127.0.0.1:1/db?sslmode=disable"}, nil, "cannot reach PostgreSQL"},
		{"unwritable data folder", []string{"--data-dir", "/dev/null/x"}, nil, "creating database folder"},
		{"port in use", []string{"--port", strconv.Itoa(busy)}, nil, "already in use"},
		{"malformed config", []string{"--config", badConfig}, nil, "not valid YAML"},
		{"unknown config key", []string{"--config", typoConfig}, nil, `unknown key(s) prot`},
		{"bad env value", nil, []string{"MLCYCLE_PORT=abc"}, "MLCYCLE_PORT"},
		{"public bind without auth", []string{"--host", "0.0.0.0"}, nil, "--insecure-no-auth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"server", "--data-dir", filepath.Join(t.TempDir(), "d")}, c.args...)
			start := time.Now()
			code, _, stderr := run(t, c.env, "", args...)
			took := time.Since(start)
			if code == 0 {
				t.Fatal("exit code 0")
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr, c.want)
			}
			if took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// TestConfigPrecedence: flag > env > file.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mlcycle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data-dir: %s\nlog-format: json\n", filepath.Join(dir, "from-file"))), 0o644)
	// users ls reads the database of --data-dir: where it lands tells which value won.
	if code, _, errb := run(t, []string{"MLCYCLE_CONFIG=" + cfg}, "", "users", "ls"); code != 0 {
		t.Fatalf("users ls: %s", errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-file", "mlcycle.db")); err != nil {
		t.Errorf("config file data-dir not used: %v", err)
	}
	if code, _, errb := run(t, []string{"MLCYCLE_CONFIG=" + cfg, "MLCYCLE_DATA_DIR=" + filepath.Join(dir, "from-env")}, "", "users", "ls"); code != 0 {
		t.Fatalf("users ls: %s", errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-env", "mlcycle.db")); err != nil {
		t.Errorf("env data-dir not used: %v", err)
	}
	if code, _, errb := run(t, []string{"MLCYCLE_CONFIG=" + cfg, "MLCYCLE_DATA_DIR=" + filepath.Join(dir, "from-env")}, "", "users", "ls", "--data-dir", filepath.Join(dir, "from-flag")); code != 0 {
		t.Fatalf("users ls: %s", errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-flag", "mlcycle.db")); err != nil {
		t.Errorf("flag data-dir not used: %v", err)
	}
}

// TestUsersTokensAndAuditVerify walks the admin CLI on both databases:
// create the first admin locally, use a token against the server, and
// detect an audit row that was edited or deleted in the database.
func TestUsersTokensAndAuditVerify(t *testing.T) {
	eachDB(t, func(t *testing.T, dbURL string) {
		db := []string{"--db", dbURL, "--data-dir", t.TempDir()}
		mustRun := func(stdin string, args ...string) string {
			t.Helper()
			code, out, errb := run(t, nil, stdin, append(args, db...)...)
			if code != 0 {
				t.Fatalf("mlcycle %v: exit %d: %s", args, code, errb)
			}
			return out
		}
		mustRun("admin-password\n", "users", "create", "root", "--admin", "--password-stdin")
		mustRun("viewer-password\n", "users", "create", "vera", "--role", "viewer", "--password-stdin")
		token := strings.TrimSpace(mustRun("", "tokens", "create", "--user", "root", "--name", "ci"))
		if !strings.HasPrefix(token, "mlc_") {
			t.Fatalf("token = %q", token)
		}
		if out := mustRun("", "users", "ls"); !strings.Contains(out, "vera") || !strings.Contains(out, "viewer") {
			t.Errorf("users ls = %q", out)
		}

		srv, base := startBinary(t, append([]string{"--auth"}, db...)...)
		defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
		out := mustRun("", "users", "ls", "--server", base, "--token", token, "--output", "json")
		if !strings.Contains(out, `"name": "vera"`) {
			t.Errorf("users ls over the API = %q", out)
		}
		code, _, errb := run(t, nil, "", "users", "ls", "--server", base, "--token", "mlc_wrong")
		if code == 0 || !strings.Contains(errb, "UNAUTHENTICATED") {
			t.Errorf("bad token: exit %d, %q", code, errb)
		}
		c, _ := client.New(base, client.WithToken(token))
		if _, err := c.CreateToken(context.Background(), "", "laptop", time.Hour); err != nil {
			t.Fatal(err)
		}
		if out := mustRun("", "audit", "ls", "--action", "token.*"); !strings.Contains(out, "token.create") {
			t.Errorf("audit ls = %q", out)
		}
		if out := mustRun("", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
			t.Fatalf("verify on an intact chain: %q", out)
		}

		// An attacker with database access edits a row (dropping the guard
		// trigger first): verify names that event and exits 2.
		tamper(t, dbURL, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
		code, _, errb = run(t, nil, "", append([]string{"audit", "verify"}, db...)...)
		if code != 2 || !strings.Contains(errb, "event 2") {
			t.Errorf("after edit: exit %d, %q", code, errb)
		}
	})
}

func eachDB(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.PostgresURL(t)) })
}

// TestAuditDeletionDetected deletes a middle event directly in the database.
func TestAuditDeletionDetected(t *testing.T) {
	eachDB(t, func(t *testing.T, dbURL string) {
		db := []string{"--db", dbURL, "--data-dir", t.TempDir()}
		for _, u := range []string{"ann", "ben", "cat"} {
			if code, _, errb := run(t, nil, "password-"+u+"\n", append([]string{"users", "create", u, "--password-stdin"}, db...)...); code != 0 {
				t.Fatal(errb)
			}
		}
		tamper(t, dbURL, "DELETE FROM audit_events WHERE seq = 2")
		code, _, errb := run(t, nil, "", append([]string{"audit", "verify"}, db...)...)
		if code != 2 || !strings.Contains(errb, "2") {
			t.Errorf("after delete: exit %d, %q", code, errb)
		}
	})
}

// tamper runs SQL against the database the way an attacker would: with the
// append-only triggers dropped.
func tamper(t *testing.T, dbURL, stmt string) {
	t.Helper()
	driver, dsn := "pgx", dbURL
	if rest, ok := strings.CutPrefix(dbURL, "sqlite://"); ok {
		driver, dsn = "sqlite", rest
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var drops []string
	if driver == "sqlite" {
		rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			drops = append(drops, "DROP TRIGGER "+n)
		}
		rows.Close()
	} else {
		rows, err := db.Query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass AND NOT tgisinternal`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			drops = append(drops, "DROP TRIGGER "+n+" ON audit_events")
		}
		rows.Close()
	}
	for _, s := range append(drops, stmt) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestKill9KeepsAcknowledgedWrites: writers create tokens concurrently; the
// server is killed with SIGKILL mid-stream; after a restart every token whose
// creation was acknowledged (201) exists, and the database needs no repair.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	eachDB(t, func(t *testing.T, dbURL string) {
		dataDir := t.TempDir()
		args := []string{"--db", dbURL, "--data-dir", dataDir}
		if code, _, errb := run(t, nil, "admin-password\n", append([]string{"users", "create", "root", "--admin", "--password-stdin"}, args...)...); code != 0 {
			t.Fatal(errb)
		}
		_, out, _ := run(t, nil, "", append([]string{"tokens", "create", "--user", "root", "--name", "writer"}, args...)...)
		token := strings.TrimSpace(out)
		srv, base := startBinary(t, append([]string{"--auth"}, args...)...)

		var mu sync.Mutex
		var acked []string
		var n atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		httpc := &http.Client{Timeout: 5 * time.Second}
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("w%d-%d", w, i)
					req, _ := http.NewRequest("POST", base+"/api/v1/tokens", strings.NewReader(fmt.Sprintf(`{"name":%q}`, name)))
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := httpc.Do(req)
					if err != nil {
						return // the server is gone
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 201 {
						mu.Lock()
						acked = append(acked, name)
						mu.Unlock()
						n.Add(1)
					}
				}
			}()
		}
		for n.Load() < 300 {
			time.Sleep(5 * time.Millisecond)
		}
		srv.Process.Signal(syscall.SIGKILL)
		srv.Wait()
		close(stop)
		wg.Wait()

		srv2, base2 := startBinary(t, append([]string{"--auth"}, args...)...)
		defer func() { srv2.Process.Signal(os.Interrupt); srv2.Wait() }()
		c, _ := client.New(base2, client.WithToken(token))
		tokens, err := c.ListTokens(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, tk := range tokens {
			have[tk.Name] = true
		}
		missing := 0
		for _, name := range acked {
			if !have[name] {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("%d of %d acknowledged writes lost after kill -9", missing, len(acked))
		}
		t.Logf("%d acknowledged writes, all present after kill -9", len(acked))
		code, out, errb := run(t, nil, "", append([]string{"audit", "verify"}, args...)...)
		if code != 0 || !strings.Contains(out, "audit chain OK") {
			t.Fatalf("audit verify after kill -9: %s %s", out, errb)
		}
	})
}
