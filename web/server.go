package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

//go:embed assets
var assets embed.FS

// Server is the dashboard and /metrics on one listener. It only reads.
type Server struct {
	Src     *Source
	Hub     *Hub
	Metrics *Metrics
	Log     zerolog.Logger
	Version string

	page   *template.Template
	checks checks
}

// Timeouts of the HTTP server; the event stream lifts the write deadline
// for itself.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 5 * time.Second
	keepAliveInterval = 15 * time.Second // SSE comment lines keep proxies from closing the stream
)

// cookieName holds a hash of the token once a browser has shown it.
const cookieName = "slipway_token"

// NewServer returns a dashboard over src, hub and metrics.
func NewServer(src *Source, hub *Hub, m *Metrics, log zerolog.Logger, version string) *Server {
	page := template.Must(template.New("index.html").Funcs(funcs).ParseFS(assets, "assets/index.html"))
	return &Server{Src: src, Hub: hub, Metrics: m, Log: log, Version: version, page: page}
}

// Handler serves every route behind the token check and the security
// headers.
func (s *Server) Handler() http.Handler {
	static, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /events", s.events)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{ErrorLog: promLogger{s.Log}}))
	return s.secure(s.authorize(mux))
}

// Serve serves on ln until ctx is done, then lets requests in flight end
// for a few seconds and closes the event streams.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve the dashboard: %w", err)
	case <-ctx.Done():
	}
	cancel() // ends the event streams, which Shutdown would wait for
	sctx, stop := context.WithTimeout(context.Background(), shutdownTimeout)
	defer stop()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the dashboard: %w", err)
	}
	return nil
}

func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// authorize lets a request through when no token is configured (the
// configuration allows that only on loopback), or when it carries the
// token of the configuration in force: as "Authorization: Bearer TOKEN",
// as the cookie set by a first visit with ?token=TOKEN, or as ?token=
// itself, which sets that cookie and redirects to the same page without
// the token in its address.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := s.Src.Config().HTTP.Token
		if token == "" {
			// Only on loopback. A page elsewhere could point a name of
			// its own at 127.0.0.1 (DNS rebinding): the browser would
			// then send that name as Host.
			if !localHost(r.Host) {
				http.Error(w, "This Slipway dashboard answers only to localhost or an IP address; open it as http://127.0.0.1:PORT/ (through an SSH tunnel from elsewhere).", http.StatusMisdirectedRequest)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(bearer, token) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(cookieName); err == nil && equal(c.Value, cookieValue(token)) {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && equal(q, token) {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: cookieValue(token), Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 30 * 24 * 3600})
			u := *r.URL
			v := u.Query()
			v.Del("token")
			u.RawQuery = v.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
		http.Error(w, "This Slipway dashboard needs its token: open it once as /?token=TOKEN (the token is in the file named by [http] token_file), or send Authorization: Bearer TOKEN.", http.StatusUnauthorized)
	})
}

// localHost reports whether a Host header names this machine by a name
// no one else controls: localhost or an IP address.
func localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host == "localhost" || net.ParseIP(host) != nil
}

// equal compares in constant time (for equal lengths; a length is no secret).
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookieValue keeps the token itself out of the cookie jar.
func cookieValue(token string) string {
	sum := sha256.Sum256([]byte("slipway dashboard cookie\x00" + token))
	return hex.EncodeToString(sum[:])
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	d := s.snapshot(r.Context())
	if target := r.URL.Query().Get("check"); target != "" {
		// Another site may not make a browser run health checks here
		// (an <img> pointing at the link): browsers say where a request
		// comes from; "none" is an address typed or bookmarked.
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			http.Error(w, "Check hosts from the dashboard itself: follow its link, or open the address directly.", http.StatusForbidden)
			return
		}
		if code := s.checkNow(r.Context(), &d, target); code != http.StatusOK {
			http.Error(w, "No such environment to check: use ?check=APP/ENV.", code)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.page.Execute(w, d); err != nil {
		s.Log.Warn().Err(err).Msg("dashboard: render the page")
	}
}

// events streams the hub as server-sent events: first a "start" message
// with the lines so far for every running deploy, then each message as it
// happens. A browser that falls behind is cut off; EventSource reconnects.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	running, ch, cancel := s.Hub.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(m Message) error {
		data, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return err
		}
		return rc.Flush()
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	for _, run := range running {
		if send(Message{Type: "start", App: run.App, Env: run.Env, Lines: run.Lines}) != nil {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	keepAlive := time.NewTicker(keepAliveInterval)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-ch:
			if !ok || send(m) != nil {
				return
			}
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// promLogger sends promhttp's errors to the daemon's log.
type promLogger struct{ log zerolog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn().Msg(fmt.Sprint(v...)) }
