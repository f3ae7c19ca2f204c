//go:build unix

package sshrig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Host is one sshd acting as a deploy host.
type Host struct {
	Name        string // "web-1", "web-2", ...
	Port        int
	Root        string // the host's own directory; deploy paths for this host live under it (e.g. Root+"/srv/shop")
	User        string // the login user (the current OS user)
	HostKeyLine string // its public host key as a known_hosts line: "[127.0.0.1]:PORT ssh-ed25519 AAAA..."

	rig      *Rig
	dir      string
	keyPath  string // private host key
	authPath string // authorized_keys
	cfgPath  string // sshd_config
	logPath  string // sshd's stderr (-e), appended across restarts
	hostKey  string // "ssh-ed25519 AAAA..."

	mu   sync.Mutex // serialises Start, Stop and Kill
	cmd  *exec.Cmd  // the listener; nil when stopped
	done chan struct{}
}

// errPortInUse reports that sshd could not bind its port.
var errPortInUse = errors.New("port in use")

// stopTimeout bounds how long Stop and Kill wait for sshd to exit.
const stopTimeout = 10 * time.Second

// Addr returns "127.0.0.1:PORT".
func (h *Host) Addr() string { return fmt.Sprintf("127.0.0.1:%d", h.Port) }

// Log returns the contents of the host's sshd log, for failure messages.
func (h *Host) Log() string {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return fmt.Sprintf("(no sshd log: %v)", err)
	}
	return string(b)
}

// Sessions counts the remote sessions (commands, rsync transfers, shells)
// the host has started, across restarts, from its sshd log: what a deploy
// costs in round trips, whether or not they share a connection.
func (h *Host) Sessions() int { return h.countLog("Starting session: ") }

// Logins counts the logins (SSH handshakes that authenticated) the host
// has accepted, the rig's own readiness checks included.
func (h *Host) Logins() int { return h.countLog("Accepted publickey for ") }

func (h *Host) countLog(marker string) int {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), marker)
}

// Start (re)starts the host on the same port with the same host key and waits
// until it accepts a login with the real ssh client. The port is not held
// while the host is down, so another process could take it in between; Start
// then fails with the sshd log.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.runningLocked() {
		return fmt.Errorf("sshrig: %s is already running", h.Name)
	}
	return h.launchLocked(ctx)
}

// startFresh picks a port and starts the host for the first time, moving to
// another port when sshd cannot bind the one picked.
func (h *Host) startFresh(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var err error
	for range 5 {
		if err = h.rig.pickPort(h); err != nil {
			return err
		}
		if err = h.rig.writeClientFiles(); err != nil {
			return err
		}
		if err = h.launchLocked(ctx); !errors.Is(err, errPortInUse) {
			return err
		}
	}
	return err
}

// Stop sends SIGTERM to the listener and waits for it to exit: the host stops
// accepting connections. Like a real sshd, sessions already open go on until
// they end; Kill cuts them.
func (h *Host) Stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.runningLocked() {
		h.cmd = nil
		return nil
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
		h.cmd = nil
		return nil
	case <-time.After(stopTimeout):
	}
	return h.killLocked()
}

// Kill sends SIGKILL to the listener and to every process below it, so that
// sessions in flight (an rsync, a remote command) are cut as if the machine
// died. sshd starts each connection in a new session (setsid), and the
// remote command in yet another one, so killing the listener's process group
// alone would leave them running: Kill stops the whole process tree first
// (found through /proc), then kills it.
func (h *Host) Kill() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.runningLocked() {
		h.cmd = nil
		return nil
	}
	return h.killLocked()
}

func (h *Host) killLocked() error {
	killTree(h.cmd.Process.Pid)
	select {
	case <-h.done:
		h.cmd = nil
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("sshrig: %s: sshd (pid %d) did not exit after SIGKILL", h.Name, h.cmd.Process.Pid)
	}
}

func (h *Host) runningLocked() bool {
	if h.cmd == nil {
		return false
	}
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

// launchLocked starts sshd on h.Port and waits until it accepts a login.
func (h *Host) launchLocked(ctx context.Context) error {
	if err := os.WriteFile(h.cfgPath, []byte(h.sshdConfig(h.Port)), 0o600); err != nil {
		return err
	}
	var offset int64
	if st, err := os.Stat(h.logPath); err == nil {
		offset = st.Size()
	}
	logf, err := os.OpenFile(h.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(h.rig.sshdPath, "-D", "-e", "-f", h.cfgPath)
	cmd.Dir = h.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("sshrig: %s: start sshd: %w", h.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	h.cmd, h.done = cmd, done
	if err := h.waitReady(ctx, offset); err != nil {
		if h.runningLocked() {
			_ = h.killLocked()
		}
		h.cmd = nil
		return err
	}
	return nil
}

// waitReady polls with the real ssh client until a login succeeds, sshd
// exits, a failure that retrying cannot fix shows up, or readyTimeout passes.
func (h *Host) waitReady(ctx context.Context, logOffset int64) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		select {
		case <-h.done:
			log := h.logSince(logOffset)
			if strings.Contains(log, "Address already in use") || strings.Contains(log, "Cannot bind any address") {
				return fmt.Errorf("sshrig: %s: %w: %s", h.Name, errPortInUse, strings.TrimSpace(log))
			}
			return fmt.Errorf("sshrig: %s: sshd exited before accepting logins (%v); sshd log:\n%s", h.Name, h.cmd.ProcessState, log)
		default:
		}
		_, err := h.rig.SSH(ctx, h.Name, "true")
		if err == nil {
			return nil
		}
		msg := err.Error()
		if strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Host key verification failed") {
			return fmt.Errorf("sshrig: %s (%s) refused the rig's login: %v; sshd log:\n%s", h.Name, h.Addr(), err, h.logSince(logOffset))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sshrig: %s (%s) did not accept a login: %v (last attempt: %v); sshd log:\n%s",
				h.Name, h.Addr(), ctx.Err(), err, h.logSince(logOffset))
		case <-h.done:
		case <-time.After(delay):
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// logSince returns the log written since offset (this run of sshd).
func (h *Host) logSince(offset int64) string {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return fmt.Sprintf("(no sshd log: %v)", err)
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	return string(b[offset:])
}

// sshdConfig renders the host's sshd_config. No Include, so nothing of the
// machine's /etc/ssh/sshd_config applies; no AcceptEnv, so sessions see
// sshd's own minimal environment, plus SHLVL=1.
//
// The hosts log in as the user running the tests, often root, whose
// ~/.bashrc is the machine's and not the rig's: bash sources it for every
// command sshd starts, unless SHLVL says it runs inside another shell. A
// .bashrc that initialises a language manager (pyenv, nvm) costs seconds
// per remote command on a busy machine, and a stale lock of one stalls
// every login, so the rig's hosts skip it, as a deploy user's plain
// shell would.
func (h *Host) sshdConfig(port int) string {
	lines := []string{
		"ListenAddress 127.0.0.1",
		fmt.Sprintf("Port %d", port),
		"HostKey " + quoteConfig(h.keyPath),
		"AuthorizedKeysFile " + quoteConfig(h.authPath),
		"PubkeyAuthentication yes",
		"AuthenticationMethods publickey",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		// PAM needs root and the machine's PAM stack; keys are enough.
		"UsePAM no",
		// t.TempDir and friends may carry group or world bits.
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"PidFile none",
		"Subsystem sftp internal-sftp",
		"MaxStartups 100",
		"MaxSessions 100",
		// VERBOSE logs "Starting session" for each session (Sessions).
		"LogLevel VERBOSE",
		"AllowUsers " + h.User,
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"X11Forwarding no",
		"SetEnv SHLVL=1",
	}
	lines = append(lines, h.rig.optional...)
	return strings.Join(lines, "\n") + "\n"
}

// AddAuthorizedKeys appends authorized_keys lines, options included (such
// as command="..." to force git-shell, the way gitolite does), to the
// host's authorized_keys. sshd reads the file at every login, so they
// apply at once; the rig's own key stays unrestricted.
func (h *Host) AddAuthorizedKeys(lines ...string) error {
	f, err := os.OpenFile(h.authPath, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	for _, line := range lines {
		if strings.ContainsAny(line, "\r\n") {
			f.Close()
			return fmt.Errorf("sshrig: an authorized_keys line must be one line: %q", line)
		}
		if _, err := f.WriteString(line + "\n"); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
