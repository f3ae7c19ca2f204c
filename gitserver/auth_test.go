package gitserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	gossh "golang.org/x/crypto/ssh"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
	"github.com/slipwayhq/slipway/release/transport"
)

func newSigner(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer runs a Server for users name → key and returns its address.
func startServer(t *testing.T, users map[string]gossh.Signer) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var toml strings.Builder
	fmt.Fprintf(&toml, "data_dir = %q\n", filepath.Join(dir, "data"))
	for name, s := range users {
		fmt.Fprintf(&toml, "[[users]]\nname = %q\nkeys = [%q]\n", name, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey()))))
	}
	toml.WriteString("[apps.shop.environments.production]\npath = \"srv\"\n")
	cfg, err := config.Parse([]byte(toml.String()), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	engine := &release.Engine{DataDir: cfg.DataDir, Log: zerolog.Nop(), Connect: transport.Connector(func() *config.Config { return cfg }, transport.Options{})}
	srv := NewServer(cfg, newSigner(t), engine, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, filepath.Join(dir, "h.sock"), "/bin/false") }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

func run(t *testing.T, addr string, signers []gossh.Signer, cmd string) (string, error) {
	t.Helper()
	client, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "git",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signers...)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		return "", err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	var out bytes.Buffer
	sess.Stdout = &out
	err = sess.Run(cmd)
	return out.String(), err
}

// Identity comes from the key that signed. The public-key handler also
// sees keys a client merely offers, so nothing it saw may decide who the
// user is: only the verified-key callback, called once for the signing key.
func TestIdentityIsTheKeyThatSigned(t *testing.T) {
	alice, bob := newSigner(t), newSigner(t)
	addr := startServer(t, map[string]gossh.Signer{"alice": alice, "bob": bob})
	for name, key := range map[string]gossh.Signer{"alice": alice, "bob": bob} {
		out, err := run(t, addr, []gossh.Signer{key}, "whoami")
		if err != nil || !strings.Contains(out, "user:   "+name) {
			t.Errorf("%s's key: whoami = %q, %v", name, out, err)
		}
	}

	// An offer of alice's key followed by a signature with bob's: the
	// connection's permissions name bob.
	cfg, _ := config.Parse([]byte(fmt.Sprintf("[[users]]\nname = \"alice\"\nkeys = [%q]\n[[users]]\nname = \"bob\"\nkeys = [%q]\n",
		strings.TrimSpace(string(gossh.MarshalAuthorizedKey(alice.PublicKey()))),
		strings.TrimSpace(string(gossh.MarshalAuthorizedKey(bob.PublicKey()))))), "")
	s := NewServer(cfg, newSigner(t), &release.Engine{}, zerolog.Nop())
	if _, ok := s.Config().UserForKey(alice.PublicKey()); !ok {
		t.Fatal("alice's offered key should be acceptable")
	}
	perms, err := s.verifiedKey(fakeMeta{}, bob.PublicKey(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if perms.Extensions[extUser] != "bob" || perms.Extensions[extKey] != gossh.FingerprintSHA256(bob.PublicKey()) {
		t.Errorf("permissions after alice was offered and bob signed: %v", perms.Extensions)
	}
}

func TestUnknownKeyAndOtherMethodsAreRefused(t *testing.T) {
	addr := startServer(t, map[string]gossh.Signer{"alice": newSigner(t)})
	if _, err := run(t, addr, []gossh.Signer{newSigner(t)}, "whoami"); err == nil {
		t.Error("an unknown key was let in")
	}
	// Only keys are accepted: a password or keyboard-interactive client gets nowhere.
	for name, auth := range map[string]gossh.AuthMethod{
		"password": gossh.Password("hunter2"),
		"keyboard-interactive": gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
			return []string{"hunter2"}, nil
		}),
	} {
		_, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "git", Auth: []gossh.AuthMethod{auth},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
		if err == nil {
			t.Errorf("%s authentication was accepted", name)
		} else if !strings.Contains(err.Error(), "[none publickey]") && !strings.Contains(err.Error(), "no supported methods remain") {
			t.Errorf("%s: %v; want the server to offer publickey only", name, err)
		}
	}
}

type fakeMeta struct{}

func (fakeMeta) User() string          { return "git" }
func (fakeMeta) SessionID() []byte     { return nil }
func (fakeMeta) ClientVersion() []byte { return nil }
func (fakeMeta) ServerVersion() []byte { return nil }
func (fakeMeta) RemoteAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (fakeMeta) LocalAddr() net.Addr   { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
