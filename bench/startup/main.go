// Command startup measures how fast a freshly built mlcycle server answers
// its first /health with OK, and how much memory it holds when idle, on the
// embedded default (SQLite + local folder). Run it with bench/startup.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "./mlcycle", "mlcycle binary to measure")
	runs := flag.Int("runs", 10, "number of cold starts")
	idle := flag.Duration("idle", 3*time.Second, "how long the server idles before RSS is read")
	flag.Parse()
	if err := run(*bin, *runs, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(bin string, runs int, idle time.Duration) error {
	var starts []time.Duration
	var rss []int64
	for i := range runs {
		// A new data folder each time: the first start also creates and
		// migrates the database, which is what a new user meets.
		dir, err := os.MkdirTemp("", "mlcycle-startup-*")
		if err != nil {
			return err
		}
		d, r, err := once(bin, dir, idle, i == 0)
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		starts = append(starts, d)
		if r > 0 {
			rss = append(rss, r)
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	fmt.Printf("cold start to first OK on /health (%d runs, fresh data folder each):\n", runs)
	fmt.Printf("  min %v  median %v  max %v   (goal <= 100ms)\n",
		starts[0].Round(time.Microsecond), starts[len(starts)/2].Round(time.Microsecond), starts[len(starts)-1].Round(time.Microsecond))
	if len(rss) > 0 {
		fmt.Printf("idle RSS after %v: %.1f MB   (goal <= 40 MB)\n", idle, float64(rss[0])/(1<<20))
	}
	return nil
}

func once(bin, dir string, idle time.Duration, measureRSS bool) (time.Duration, int64, error) {
	port, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "server", "--port", strconv.Itoa(port), "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("starting %s: %w", bin, err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	var took time.Duration
	for {
		if resp, err := client.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.TrimSpace(string(b)) == "OK" {
				took = time.Since(start)
				break
			}
		}
		if time.Since(start) > 20*time.Second {
			return 0, 0, fmt.Errorf("no OK from %s within 20s", url)
		}
		time.Sleep(200 * time.Microsecond)
	}
	if !measureRSS {
		return took, 0, nil
	}
	time.Sleep(idle)
	rss, err := readRSS(cmd.Process.Pid)
	return took, rss, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readRSS returns the resident set size of pid in bytes (Linux).
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
