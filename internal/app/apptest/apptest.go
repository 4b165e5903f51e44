// Package apptest runs the real mlcycle server for tests: on 127.0.0.1 with
// a port of its own, a fresh data folder unless the test gives one, and a
// graceful shutdown when the test ends.
package apptest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/internal/app"
)

// Server is a running server; App.URL is where it answers.
type Server struct {
	*app.App
	cancel  context.CancelFunc
	stopped chan struct{} // closed once Run has returned
	err     error         // what Run returned, set before stopped closes
}

// Start runs the server configured by cfg until the test ends. Host and
// Port are always 127.0.0.1 and a free port; DataDir defaults to a
// temporary folder and LogLevel to warn (logs are discarded).
func Start(t testing.TB, cfg app.Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Host, cfg.Port = "127.0.0.1", 0
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, io.Discard)
	if err != nil {
		cancel()
		t.Fatalf("starting the server: %v", err)
	}
	s := &Server{App: a, cancel: cancel, stopped: make(chan struct{})}
	go func() {
		s.err = a.Run(ctx)
		close(s.stopped)
	}()
	t.Cleanup(func() {
		s.Cancel()
		select {
		case <-s.stopped:
			if s.err != nil {
				t.Errorf("server stopped with %v", s.err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30 s")
		}
	})
	return s
}

// Cancel begins the graceful shutdown: the server stops accepting
// connections and finishes the requests in flight.
func (s *Server) Cancel() { s.cancel() }

// Wait waits until the server has stopped and returns what Run returned.
func (s *Server) Wait() error {
	<-s.stopped
	return s.err
}

// Client returns a Go client of the server.
func (s *Server) Client(t testing.TB, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(s.URL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
