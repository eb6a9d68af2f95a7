package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Client calls the admin API; the command line uses it.
type Client struct {
	// Addr is the API's host:port, or a base URL ("https://host:port"). A
	// host:port is reached over HTTPS when CAFile or CertFile is set,
	// over HTTP otherwise.
	Addr string
	// Token is sent as a bearer token when set: admin.token (every call)
	// or admin.read_token (the reads).
	Token string
	// CAFile verifies the API's certificate (PEM); empty: the system's
	// roots. CertFile and KeyFile are the client certificate an API with
	// admin.tls.client_ca_file asks for.
	CAFile, CertFile, KeyFile string
	// HTTP is the client to use; nil means one with a 30-second timeout
	// (and the TLS settings above).
	HTTP *http.Client

	once    sync.Once
	hc      *http.Client
	hcError error
}

// Sentinels an *Error matches with errors.Is, by status code.
var (
	ErrUnauthorized = errors.New("admin: unauthorized")
	ErrForbidden    = errors.New("admin: forbidden")
	ErrNotFound     = errors.New("admin: not found")
)

// Error is an error answer of the API.
type Error struct {
	StatusCode int
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("admin: %s (HTTP %d)", e.Message, e.StatusCode)
}

// Is matches ErrUnauthorized (401), ErrForbidden (403) and ErrNotFound (404).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	}
	return false
}

// maxAnswer bounds what the client reads of an answer.
const maxAnswer = 32 << 20

// Peers returns the peer table.
func (c *Client) Peers(ctx context.Context) ([]PeerView, error) {
	var out []PeerView
	return out, c.do(ctx, http.MethodGet, "/v1/peers", &out, http.StatusOK)
}

// Peer returns one peer; the error matches ErrNotFound for an unknown one.
func (c *Client) Peer(ctx context.Context, identity string) (PeerView, error) {
	var out PeerView
	return out, c.do(ctx, http.MethodGet, "/v1/peers/"+url.PathEscape(identity), &out, http.StatusOK)
}

// Routes returns the active routing table.
func (c *Client) Routes(ctx context.Context) ([]RouteView, error) {
	var out []RouteView
	return out, c.do(ctx, http.MethodGet, "/v1/routes", &out, http.StatusOK)
}

// Stats returns the routing counters.
func (c *Client) Stats(ctx context.Context) (*StatsView, error) {
	var out StatsView
	if err := c.do(ctx, http.MethodGet, "/v1/stats", &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Config decodes the running configuration (GET /v1/config) into out.
func (c *Client) Config(ctx context.Context, out any) error {
	return c.do(ctx, http.MethodGet, "/v1/config", out, http.StatusOK)
}

// Health reports whether the agent's API answers /healthz with 200.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, http.StatusOK)
}

// Ready reports the agent's readiness and the reason.
func (c *Client) Ready(ctx context.Context) (bool, string, error) {
	var out ReadyView
	err := c.do(ctx, http.MethodGet, "/readyz", &out, http.StatusOK, http.StatusServiceUnavailable)
	return out.Ready, out.Reason, err
}

// Reload asks the agent to reload its configuration and returns the
// settings that need a restart to take effect.
func (c *Client) Reload(ctx context.Context) ([]string, error) {
	var out ReloadView
	if err := c.do(ctx, http.MethodPost, "/v1/reload", &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.NeedsRestart, nil
}

// Disconnect asks the agent to send DPR to a peer; the error matches
// ErrNotFound for an unknown peer.
func (c *Client) Disconnect(ctx context.Context, identity string) error {
	return c.do(ctx, http.MethodPost, "/v1/peers/"+url.PathEscape(identity)+"/disconnect", nil, http.StatusAccepted)
}

func (c *Client) baseURL() string {
	a := strings.TrimRight(c.Addr, "/")
	if !strings.Contains(a, "://") {
		if c.tls() {
			a = "https://" + a
		} else {
			a = "http://" + a
		}
	}
	return a
}

func (c *Client) tls() bool { return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" }

// client returns c.HTTP, or builds the default one once.
func (c *Client) client() (*http.Client, error) {
	if c.HTTP != nil {
		return c.HTTP, nil
	}
	c.once.Do(func() {
		c.hc = &http.Client{Timeout: 30 * time.Second}
		if !c.tls() {
			return
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pool, err := loadCAs(c.CAFile)
			if err != nil {
				c.hcError = fmt.Errorf("admin: CA file: %w", err)
				return
			}
			tc.RootCAs = pool
		}
		if c.CertFile != "" || c.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				c.hcError = fmt.Errorf("admin: client certificate: %w", err)
				return
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		c.hc.Transport = &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}
	})
	return c.hc, c.hcError
}

// do sends one request and decodes the answer into out when its status is
// one of ok; any other status is an *Error.
func (c *Client) do(ctx context.Context, method, path string, out any, ok ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL()+path, nil)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc, err := c.client()
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("admin: %s %s: reading the answer: %w", method, path, err)
	}
	for _, code := range ok {
		if resp.StatusCode != code {
			continue
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("admin: %s %s: decoding the answer: %w", method, path, err)
		}
		return nil
	}
	e := &Error{StatusCode: resp.StatusCode}
	var ev ErrorView
	if json.Unmarshal(body, &ev) == nil && ev.Error != "" {
		e.Message = ev.Error
	} else {
		e.Message = strings.TrimSpace(http.StatusText(resp.StatusCode) + " " + string(bytes.TrimSpace(firstLine(body))))
	}
	return e
}

// firstLine returns at most the first 200 bytes of the first line of b.
func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return b
}
