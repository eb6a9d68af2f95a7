package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
)

// Backend is what the admin API shows and acts on; the agent implements it.
type Backend interface {
	Peers() []*peers.PeerInfo
	Routes() []*realm.Route
	Stats() *routing.Stats
	// Ready reports whether the mandatory peers are open; the string says
	// what is missing.
	Ready() (bool, string)
	// Reload applies the configuration again and reports the settings that
	// need a restart.
	Reload() (needRestart []string, err error)
	// Disconnect sends DPR to a peer (operator action). An error wrapping
	// peers.ErrUnknownPeer is answered 404, any other 409.
	Disconnect(identity string) error
	// Reloads counts the reloads applied and refused (any path).
	Reloads() ReloadsView
	// Refusals counts what the agent refused: requests shed with 3004 and
	// connections closed before their peer opened, by reason.
	Refusals() RefusalsView
	// RunningConfig is the configuration in force, without secrets, as a
	// value encoding/json can encode (GET /v1/config, for dra check).
	RunningConfig() any
}

// Server timeouts. A reload may take a while; nothing else does.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Server is the admin HTTP server.
type Server struct {
	cfg      Config
	b        Backend
	log      *slog.Logger
	mux      *http.ServeMux
	tokenSum [sha256.Size]byte // SHA-256 of the token, compared in constant time
	readSum  [sha256.Size]byte // SHA-256 of the read token

	refusedAt atomic.Int64 // unix ns of the last refused-read warning
	refusedN  atomic.Int64 // refused reads not logged since

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// New builds a server for cfg, which should have passed Validate. A nil log
// discards.
func New(cfg Config, b Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, b: b, log: log.With("component", "admin"), mux: http.NewServeMux()}
	s.tokenSum = sha256.Sum256([]byte(cfg.Token))
	s.readSum = sha256.Sum256([]byte(cfg.ReadToken))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.Handle("GET /v1/peers", http.HandlerFunc(s.listPeers))
	s.Handle("GET /v1/peers/{identity}", http.HandlerFunc(s.getPeer))
	s.Handle("GET /v1/routes", http.HandlerFunc(s.listRoutes))
	s.Handle("GET /v1/stats", http.HandlerFunc(s.stats))
	s.Handle("GET /v1/config", http.HandlerFunc(s.config))
	s.mux.Handle("POST /v1/reload", s.authorized(http.HandlerFunc(s.reload)))
	s.mux.Handle("POST /v1/peers/{identity}/disconnect", s.authorized(http.HandlerFunc(s.disconnect)))
	s.mountUI()
	return s
}

// Handle mounts the read endpoint h on pattern (http.ServeMux syntax), e.g.
// /metrics. It panics if pattern conflicts with an API endpoint. h gets
// the readers the API's GETs get (see Config.ReadToken) and sets its own
// Content-Type.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, s.reader(h)) }

// Handler returns the server's HTTP handler, for tests or mounting
// elsewhere.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on the configured address and serves in the background.
// With an empty address the API is disabled and Start does nothing.
func (s *Server) Start() error {
	if s.cfg.Addr == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("admin: already started")
	}
	var tc *tls.Config
	if s.cfg.TLS.Enabled() {
		var err error
		if tc, err = s.cfg.TLS.serverConfig(); err != nil {
			return fmt.Errorf("admin: tls: %w", err)
		}
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", s.cfg.Addr, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "err", err)
		}
	}(s.srv, s.done)
	reads := "token"
	if s.cfg.readsOpen() {
		reads = "open"
	}
	s.log.Info("admin API listening", "address", ln.Addr().String(), "tls", tc != nil,
		"client_certs", tc != nil && tc.ClientCAs != nil, "mutations", s.cfg.Token != "", "reads", reads)
	return nil
}

// Addr returns the bound address, or "" before Start or when disabled.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting connections and waits for the requests in
// flight until ctx ends, then closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	<-done
	return err
}

// serveHTTP wraps the mux: common headers, panics and the mux's own 404
// and 405 answers as JSON.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	stampTime(h)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("admin handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// No endpoint: let the mux decide (404, 405 with Allow, or a redirect
	// to the canonical path) and translate its errors to JSON.
	rec := &recorder{header: http.Header{}}
	s.mux.ServeHTTP(rec, r)
	if rec.code >= 400 {
		if allow := rec.header.Get("Allow"); allow != "" {
			h.Set("Allow", allow)
		}
		writeError(w, rec.code, strings.ToLower(http.StatusText(rec.code)))
		return
	}
	for k, v := range rec.header {
		h[k] = v
	}
	w.WriteHeader(rec.code)
	w.Write(rec.body.Bytes())
}

// recorder captures what the mux answers for a request no endpoint matches.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// authorized requires the configured bearer token: 403 when none is
// configured, 401 when it is missing or wrong.
func (s *Server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			writeError(w, http.StatusForbidden, "mutating endpoints are disabled: no admin.token configured")
			return
		}
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) != 1 {
			s.log.Warn("admin request refused: bad or missing token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="dra"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// reader requires the token or the read token, unless reads are open
// (Config.PublicReads, or no token configured at all: loopback only).
func (s *Server) reader(next http.Handler) http.Handler {
	if s.cfg.readsOpen() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		tok := s.cfg.Token != "" && subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
		read := s.cfg.ReadToken != "" && subtle.ConstantTimeCompare(sum[:], s.readSum[:]) == 1
		if !ok || !tok && !read {
			s.refusedRead(r)
			w.Header().Set("WWW-Authenticate", `Bearer realm="dra"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token (admin.token or admin.read_token)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusedRead logs a read refused for its token, at most once per
// refusedLogEvery (a scraper with a stale token would otherwise log every
// scrape), with the number refused meanwhile.
func (s *Server) refusedRead(r *http.Request) {
	now := time.Now().UnixNano()
	last := s.refusedAt.Load()
	if now-last < int64(refusedLogEvery) || !s.refusedAt.CompareAndSwap(last, now) {
		s.refusedN.Add(1)
		return
	}
	s.log.Warn("admin read refused: bad or missing token", "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr, "suppressed_since_last", s.refusedN.Swap(0))
}

// refusedLogEvery spaces the warnings about refused reads.
const refusedLogEvery = 10 * time.Second

// bearer extracts the token of an "Authorization: Bearer <token>" header;
// the scheme is case-insensitive (RFC 9110 §11.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyView is the body of /readyz.
type ReadyView struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, reason := s.b.Ready()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, ReadyView{Ready: ok, Reason: reason})
}

func (s *Server) listPeers(w http.ResponseWriter, r *http.Request) {
	rows := s.b.Peers()
	out := make([]PeerView, 0, len(rows))
	for _, p := range rows {
		out = append(out, newPeerView(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getPeer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("identity")
	for _, p := range s.b.Peers() {
		if strings.EqualFold(p.Identity, id) {
			writeJSON(w, http.StatusOK, newPeerView(p))
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("unknown peer %q", id))
}

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) {
	routes := s.b.Routes()
	out := make([]RouteView, 0, len(routes))
	for _, rt := range routes {
		out = append(out, newRouteView(rt))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	v := newStatsView(s.b.Stats())
	rl := s.b.Reloads()
	v.Reloads = &rl
	rf := s.b.Refusals()
	v.Refusals = &rf
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.RunningConfig())
}

// ReloadView is the body of a successful POST /v1/reload.
type ReloadView struct {
	Reloaded     bool     `json:"reloaded"`
	NeedsRestart []string `json:"needs_restart"`
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	needRestart, err := s.b.Reload()
	if err != nil {
		s.log.Warn("reload requested over the admin API failed", "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Info("reload requested over the admin API", "remote", r.RemoteAddr, "needs_restart", needRestart)
	writeJSON(w, http.StatusOK, ReloadView{Reloaded: true, NeedsRestart: append([]string{}, needRestart...)})
}

// DisconnectView is the body of an accepted disconnect.
type DisconnectView struct {
	Identity string `json:"identity"`
	Status   string `json:"status"` // "disconnecting"
}

func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("identity")
	if err := s.b.Disconnect(id); err != nil {
		if errors.Is(err, peers.ErrUnknownPeer) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown peer %q", id))
			return
		}
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	s.log.Info("peer disconnect requested over the admin API", "peer", id, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, DisconnectView{Identity: id, Status: "disconnecting"})
}

// ErrorView is the body of every error answer.
type ErrorView struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorView{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body, _ = json.Marshal(ErrorView{Error: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}
