package admin

import (
	"embed"
	"net/http"
	"strconv"
	"time"
)

// uiFiles are the status page: HTML, JavaScript and CSS, no build step and
// nothing fetched from elsewhere.
//
//go:embed ui/index.html ui/app.js ui/style.css
var uiFiles embed.FS

// uiPolicy lets the page load only its own files and talk only to the
// agent.
const uiPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// mountUI serves the status page on GET / and its files on GET /ui/. The
// page holds no data and is served without a token; what it shows comes
// from the read endpoints, which it calls with the token the operator
// types in (kept in the tab's sessionStorage) when reads need one.
func (s *Server) mountUI() {
	page := func(name, ctype string) http.HandlerFunc {
		body, err := uiFiles.ReadFile("ui/" + name)
		if err != nil {
			panic("admin: status page: " + err.Error())
		}
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", ctype)
			h.Set("Content-Security-Policy", uiPolicy)
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			w.Write(body)
		}
	}
	s.mux.HandleFunc("GET /{$}", page("index.html", "text/html; charset=utf-8"))
	s.mux.HandleFunc("GET /ui/app.js", page("app.js", "text/javascript; charset=utf-8"))
	s.mux.HandleFunc("GET /ui/style.css", page("style.css", "text/css; charset=utf-8"))
}

// timeHeader carries the agent's clock (Unix ms) on every answer: the
// status page times its samples of the counters with it.
const timeHeader = "X-Dra-Time"

func stampTime(h http.Header) { h.Set(timeHeader, strconv.FormatInt(time.Now().UnixMilli(), 10)) }
