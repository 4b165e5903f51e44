package app

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything the server needs to start. Zero values mean the
// embedded default: SQLite and a local folder under DataDir.
type Config struct {
	Host      string // listen address; default 127.0.0.1
	Port      int    // default 5000, as mlflow server; 0 picks a free port
	DataDir   string // default ./mlcycle-data
	DB        string // default sqlite://<DataDir>/mlcycle.db
	Artifacts string // default file://<DataDir>/artifacts

	LogFormat string // text or json
	LogLevel  string // debug, info, warn, error

	Auth           bool     // require credentials on every route but /health
	InsecureNoAuth bool     // allow a non-loopback bind without auth
	AllowedHosts   []string // Host header values accepted, besides loopback names
	MaxBodyBytes   int64    // JSON request body limit

	// The first admin, created on start when the database has no user.
	AdminUser     string
	AdminPassword string

	ShutdownTimeout time.Duration // how long in-flight requests may take to finish
}

// withDefaults fills in the embedded defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.DataDir == "" {
		c.DataDir = "mlcycle-data"
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("resolving data folder %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.Join(c.DataDir, "mlcycle.db")
	}
	if c.Artifacts == "" {
		c.Artifacts = "file://" + filepath.Join(c.DataDir, "artifacts")
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	if c.AdminUser == "" {
		c.AdminUser = "admin"
	}
	return c, nil
}

// validate reports the first thing wrong with c, saying how to fix it.
func (c Config) validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("--port %d is out of range 0-65535", c.Port)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.MaxBodyBytes < 1024 {
		return errors.New("--max-body-bytes must be at least 1024")
	}
	if !c.Auth && !c.InsecureNoAuth && !IsLoopback(c.Host) {
		return fmt.Errorf("refusing to listen on %s without authentication: anyone who can reach it could change everything. "+
			"Start with --auth (create an admin first: mlcycle users create NAME --admin), bind to 127.0.0.1, "+
			"or pass --insecure-no-auth if a proxy in front authenticates", c.Host)
	}
	return nil
}

// IsLoopback reports whether host names only this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// allowedHosts is the Host-header allowlist: loopback names when bound to
// loopback (DNS-rebinding defence), plus what the user configured. A server
// on a public address with no list accepts any Host.
func (c Config) allowedHosts() []string {
	hosts := append([]string(nil), c.AllowedHosts...)
	if IsLoopback(c.Host) {
		return append(hosts, "localhost", "127.0.0.1", "[::1]", "::1")
	}
	if len(hosts) == 0 {
		return []string{"*"}
	}
	return hosts
}
