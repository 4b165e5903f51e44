// Package client is the Go client for mlcycle's REST API. The mlcycle CLI
// uses it for every command that talks to a server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Client talks to one mlcycle server. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	http     *http.Client
	token    string
	user     string
	password string
	agent    string

	// batchLimit is the server's batch_chunk_limit, learnt from its answer
	// to MissingChunks (0: not yet).
	batchLimit atomic.Int64
	// noFetch: the server has no batch download (an older one).
	noFetch atomic.Bool
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates with an API token (Authorization: Bearer).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithBasicAuth authenticates with a user name and password.
func WithBasicAuth(user, password string) Option {
	return func(c *Client) { c.user, c.password = user, password }
}

// WithHTTPClient replaces the default HTTP client (30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// New returns a client for the server at baseURL, e.g. http://127.0.0.1:5000.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("parsing server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q must look like http://host:port", baseURL)
	}
	c := &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}, agent: "mlcycle-go-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is a failure reported by the server.
type Error struct {
	Status  int    // HTTP status
	Code    string // e.g. RESOURCE_DOES_NOT_EXIST, PERMISSION_DENIED
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// IsNotFound reports whether err is a server "does not exist" answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if s, ok := out.(*string); ok {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		*s = string(b)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding answer to %s %s: %w", method, path, err)
	}
	return nil
}

// authorize adds the client's credentials to req: a token if it has one,
// else a user name and password, else nothing.
func (c *Client) authorize(req *http.Request) {
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.password)
	}
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode}
	var wire struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &wire) == nil && (wire.Code != "" || wire.Message != "") {
		e.Code, e.Message = wire.Code, wire.Message
	} else {
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	return e
}

// Health returns nil when the server answers OK on /health.
func (c *Client) Health(ctx context.Context) error {
	var s string
	if err := c.do(ctx, http.MethodGet, "/health", nil, nil, &s); err != nil {
		return err
	}
	if strings.TrimSpace(s) != "OK" {
		return fmt.Errorf("health check answered %q", s)
	}
	return nil
}

// Version describes the server's build.
type Version struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
}

// Version returns the server's build information.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/version", nil, nil, &v)
	return v, err
}
