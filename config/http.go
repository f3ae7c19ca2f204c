package config

import (
	"net"
	"os"
	"strings"
)

// HTTP is the read-only web dashboard and the Prometheus metrics, served
// on one listener. Off when Listen is "".
type HTTP struct {
	Listen string `toml:"listen"` // host:port; "" turns the dashboard off
	// TokenFile holds the token a browser or a scraper must present
	// (Authorization: Bearer, or ?token= once). Required when Listen is
	// not a loopback address; absolute after loading.
	TokenFile string `toml:"token_file"`
	Token     string `toml:"-"` // read from TokenFile; "" for none
}

// minTokenLength keeps guessable tokens out.
const minTokenLength = 16

// DefaultHTTPListen is where the built-in configuration serves the dashboard.
const DefaultHTTPListen = "127.0.0.1:8080"

// Loopback reports whether the listen address accepts connections from
// this machine only.
func (h HTTP) Loopback() bool {
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d *decoder) httpTable(t *table, h *HTTP) {
	t.str("listen", &h.Listen)
	t.str("token_file", &h.TokenFile)
}

// checkHTTP resolves and reads the token file and refuses a dashboard
// reachable from other machines without a token.
func (d *decoder) checkHTTP(c *Config, base string) {
	p := keyPath(nil).key("http")
	h := &c.HTTP
	if h.TokenFile != "" {
		path, err := localPath(base, h.TokenFile)
		if err != nil {
			d.errorf(p.key("token_file"), "%v", err)
			return
		}
		h.TokenFile = path
		data, err := os.ReadFile(path)
		if err != nil {
			d.errorf(p.key("token_file"), "cannot read %s: %s", path, pathErrorCause(err))
			return
		}
		h.Token = strings.TrimSpace(string(data))
		if len(h.Token) < minTokenLength || strings.ContainsAny(h.Token, " \t\r\n") {
			h.Token = ""
			d.errorf(p.key("token_file"), "%s must hold one token of at least %d characters without spaces, such as the output of `openssl rand -hex 32`", path, minTokenLength)
			return
		}
	}
	if h.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		d.errorf(p.key("listen"), `must be host:port, such as "127.0.0.1:8080" (got %q)`, h.Listen)
		return
	}
	if !h.Loopback() && h.TokenFile == "" {
		d.errorf(p.key("listen"), "%q is reachable from other machines: set http.token_file to a file holding a secret token, or listen on 127.0.0.1 and reach the dashboard through an SSH tunnel", h.Listen)
	}
}
