// Command mlcycle runs the mlcycle MLOps platform: the server, workers and
// every client command. See `mlcycle --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlcycle/mlcycle/internal/buildinfo"
	"github.com/mlcycle/mlcycle/internal/cli"
)

// version is set at release time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, buildinfo.Read(version), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
