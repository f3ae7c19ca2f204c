//go:build unix

package sshrig

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrUnavailable is wrapped by the errors of Start when this machine cannot
// run the rig at all: no sshd or ssh binary, no passwd entry for the current
// user, or (as root) no privilege separation user. StartT skips on it.
var ErrUnavailable = errors.New("sshrig: real sshd hosts are not available on this machine")

// Rig is a set of sshd hosts sharing one client key, one known_hosts file and
// one ssh_config.
type Rig struct {
	Dir        string // root dir of the rig
	ClientKey  string // path of the OpenSSH private key (ed25519, 0600) that may log in to every host
	ClientPub  string // its authorized_keys line
	KnownHosts string // path of a known_hosts file listing every host's key as [127.0.0.1]:PORT
	SSHConfig  string // path of an ssh_config with one Host block per host
	Hosts      []*Host

	sshPath  string
	sshdPath string
	opts     Options
	// optional holds the sshd_config lines that this sshd accepts beyond
	// the fixed set (decided once by preflight).
	optional []string

	mu    sync.Mutex // guards ports and the writing of KnownHosts and SSHConfig
	ports map[int]bool
}

// optionalSSHDLines are written to sshd_config only when the installed sshd
// knows them. OpenSSH 9.8 and later penalise sources whose connections crash
// or fail authentication, which a rig that kills hosts on purpose and polls
// for readiness from 127.0.0.1 would trip over.
var optionalSSHDLines = []string{"PerSourcePenalties no"}

// Options change how the hosts of a rig behave. The zero value is what
// Start gives.
type Options struct {
	// OwnHome gives each host's sessions HOME=Host.Root, so that "~" on
	// one host is not "~" on another, as on separate machines, and no
	// start-up file of the login user's real home runs. Tools that deploy
	// to a path under ~ (Capistrano's deploy_to) then keep the hosts apart.
	OwnHome bool
}

// readyTimeout bounds how long Start waits for one sshd to accept a login.
const readyTimeout = 2 * time.Minute

// Start starts n hosts named prefix-1..prefix-n (prefix "web" if empty) under
// dir. Each host gets its own host key, sshd_config, authorized_keys (the
// rig's client key), log file and free loopback port. It returns once every
// host has accepted a login with the real ssh client.
func Start(ctx context.Context, dir string, n int, prefix string) (*Rig, error) {
	return StartWith(ctx, dir, n, prefix, Options{})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, dir string, n int, prefix string, opts Options) (*Rig, error) {
	if n < 1 {
		return nil, fmt.Errorf("sshrig: need at least one host, got %d", n)
	}
	if prefix == "" {
		prefix = "web"
	}
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("sshrig: host name prefix %q: want letters, digits, '.', '_' or '-'", prefix)
	}
	sshdPath, err := findSSHD()
	if err != nil {
		return nil, err
	}
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		return nil, fmt.Errorf("%w: no ssh client in PATH", ErrUnavailable)
	}
	if sshPath, err = filepath.Abs(sshPath); err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("%w: current user: %v", ErrUnavailable, err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}

	r := &Rig{
		Dir:        dir,
		ClientKey:  filepath.Join(dir, "client_ed25519"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
		SSHConfig:  filepath.Join(dir, "ssh_config"),
		sshPath:    sshPath,
		sshdPath:   sshdPath,
		opts:       opts,
		ports:      map[int]bool{},
	}
	if r.ClientPub, err = WriteKeyPair(r.ClientKey, "slipway-sshrig-client"); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		h, err := r.newHost(fmt.Sprintf("%s-%d", prefix, i), u.Username)
		if err != nil {
			return nil, err
		}
		r.Hosts = append(r.Hosts, h)
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, h := range r.Hosts {
		wg.Go(func() { errs[i] = h.startFresh(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// StartT starts n hosts under t.TempDir() and stops them all in t.Cleanup.
// It skips the test when this machine has no usable sshd or ssh.
func StartT(t testing.TB, n int) *Rig {
	t.Helper()
	r, err := Start(t.Context(), t.TempDir(), n, "")
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("skipping, needs real OpenSSH sshd and ssh: %v", err)
	}
	if err != nil {
		t.Fatalf("sshrig: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("sshrig: close: %v", err)
		}
	})
	return r
}

// Close stops every host. Like Kill, it also ends their sessions, so no
// process of the rig outlives it.
func (r *Rig) Close() error {
	var errs []error
	for _, h := range r.Hosts {
		errs = append(errs, h.Kill())
	}
	return errors.Join(errs...)
}

// Host returns the host with the given name, or nil.
func (r *Rig) Host(name string) *Host {
	for _, h := range r.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// SSH runs command on the named host with the real ssh client and the rig's
// SSHConfig, and returns its standard output. The command runs in the login
// user's home directory, which all hosts share: use paths under Host.Root.
// On failure the error carries the client's standard error.
func (r *Rig) SSH(ctx context.Context, host string, command string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.sshPath, "-F", r.SSHConfig, host, command)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("ssh %s %q: %w: %s", host, command, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func (r *Rig) newHost(name, username string) (*Host, error) {
	dir := filepath.Join(r.Dir, name)
	h := &Host{
		Name:     name,
		Root:     filepath.Join(dir, "root"),
		User:     username,
		rig:      r,
		dir:      dir,
		keyPath:  filepath.Join(dir, "ssh_host_ed25519_key"),
		authPath: filepath.Join(dir, "authorized_keys"),
		cfgPath:  filepath.Join(dir, "sshd_config"),
		logPath:  filepath.Join(dir, "sshd.log"),
	}
	if err := os.MkdirAll(h.Root, 0o755); err != nil {
		return nil, err
	}
	pub, err := WriteKeyPair(h.keyPath, "slipway-sshrig-"+name)
	if err != nil {
		return nil, err
	}
	// The known_hosts line carries no comment.
	f := strings.Fields(pub)
	h.hostKey = f[0] + " " + f[1]
	if err := os.WriteFile(h.authPath, []byte(r.ClientPub+"\n"), 0o600); err != nil {
		return nil, err
	}
	return h, nil
}

var (
	prefixRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	badOptionRE  = regexp.MustCompile(`Bad configuration option: (\S+)`)
	privsepDirRE = regexp.MustCompile(`Missing privilege separation directory: (\S+)`)
)

// preflight checks the configuration with `sshd -t` once, before any host
// starts. It drops optional lines this sshd does not know and, as root,
// creates the privilege separation directory that sshd chroots its
// pre-authentication child into (/run/sshd on Debian) when it is missing.
func (r *Rig) preflight(ctx context.Context) error {
	r.optional = append([]string(nil), optionalSSHDLines...)
	h := r.Hosts[0]
	check := filepath.Join(r.Dir, "sshd_config.check")
	defer os.Remove(check)
	for range len(optionalSSHDLines) + 2 {
		if err := os.WriteFile(check, []byte(h.sshdConfig(22)), 0o600); err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, r.sshdPath, "-t", "-f", check).CombinedOutput()
		if err == nil {
			return nil
		}
		msg := strings.TrimSpace(string(out))
		if m := badOptionRE.FindStringSubmatch(msg); m != nil && r.dropOptional(m[1]) {
			continue
		}
		if m := privsepDirRE.FindStringSubmatch(msg); m != nil && os.Geteuid() == 0 {
			if err := makePrivsepDir(m[1]); err != nil {
				return err
			}
			continue
		}
		if strings.Contains(msg, "Privilege separation user") {
			return fmt.Errorf("%w: %s -t: %s", ErrUnavailable, r.sshdPath, msg)
		}
		return fmt.Errorf("sshrig: %s -t -f %s: %v: %s", r.sshdPath, check, err, msg)
	}
	return fmt.Errorf("sshrig: %s -t kept failing", r.sshdPath)
}

func (r *Rig) dropOptional(keyword string) bool {
	for i, line := range r.optional {
		if strings.EqualFold(strings.Fields(line)[0], keyword) {
			r.optional = append(r.optional[:i], r.optional[i+1:]...)
			return true
		}
	}
	return false
}

// makePrivsepDir creates the directory a root sshd needs for privilege
// separation: owned by root and not group or world writable.
func makePrivsepDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sshrig: privilege separation directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o022 != 0 {
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("sshrig: privilege separation directory: %w", err)
		}
	}
	return nil
}

// pickPort gives h a loopback port that was free a moment ago and that no
// other host of the rig uses, and sets h.Port and h.HostKeyLine.
func (r *Rig) pickPort(h *Host) error {
	for range 100 {
		port, err := FreePort()
		if err != nil {
			return err
		}
		r.mu.Lock()
		if !r.ports[port] {
			delete(r.ports, h.Port)
			r.ports[port] = true
			h.Port = port
			h.HostKeyLine = fmt.Sprintf("[127.0.0.1]:%d %s", port, h.hostKey)
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
	}
	return errors.New("sshrig: no free loopback port")
}

// writeClientFiles (re)writes KnownHosts and SSHConfig for every host that
// has a port. Files are replaced by rename, so a client that reads them
// concurrently sees either the old or the new version.
func (r *Rig) writeClientFiles() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var kh, cfg strings.Builder
	for _, h := range r.Hosts {
		port := h.Port
		if port == 0 {
			continue
		}
		kh.WriteString(h.HostKeyLine + "\n")
		fmt.Fprintf(&cfg, "Host %s\n", h.Name)
		fmt.Fprintf(&cfg, "  HostName 127.0.0.1\n")
		fmt.Fprintf(&cfg, "  Port %d\n", port)
		fmt.Fprintf(&cfg, "  User %s\n", h.User)
		fmt.Fprintf(&cfg, "  IdentityFile %s\n", quoteConfig(r.ClientKey))
		fmt.Fprintf(&cfg, "  IdentitiesOnly yes\n")
		fmt.Fprintf(&cfg, "  UserKnownHostsFile %s\n", quoteConfig(r.KnownHosts))
		fmt.Fprintf(&cfg, "  GlobalKnownHostsFile /dev/null\n")
		fmt.Fprintf(&cfg, "  StrictHostKeyChecking yes\n")
		fmt.Fprintf(&cfg, "  UpdateHostKeys no\n")
		fmt.Fprintf(&cfg, "  BatchMode yes\n")
		fmt.Fprintf(&cfg, "  ConnectTimeout 10\n")
		fmt.Fprintf(&cfg, "  LogLevel ERROR\n\n")
	}
	if err := writeFileAtomic(r.KnownHosts, kh.String()); err != nil {
		return err
	}
	return writeFileAtomic(r.SSHConfig, cfg.String())
}

// writeFileAtomic writes a 0600 file (ssh refuses a config or key that others
// can write) by rename.
func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// quoteConfig quotes a path for ssh_config or sshd_config, where arguments
// split on whitespace and '%' starts a token.
func quoteConfig(path string) string {
	return `"` + strings.ReplaceAll(path, "%", "%%") + `"`
}

// WriteKeyPair writes a new ed25519 key in OpenSSH format to path (0600) and
// its public half to path+".pub", and returns the authorized_keys line.
func WriteKeyPair(path, comment string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment
	if err := os.WriteFile(path+".pub", []byte(line+"\n"), 0o644); err != nil {
		return "", err
	}
	return line, nil
}

// findSSHD returns the absolute path of sshd (it re-executes itself and
// refuses to run from a relative path).
func findSSHD() (string, error) {
	if p, err := exec.LookPath("sshd"); err == nil {
		return filepath.Abs(p)
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no sshd in PATH or /usr/sbin (install openssh-server)", ErrUnavailable)
}

// ControlDir returns a new private directory for ssh's ControlMaster
// sockets, removed when the test ends. It lives directly under the system
// temporary directory: a socket path must fit in 108 bytes, which a
// test's own temporary directory may not leave.
func ControlDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "slw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
