package gitserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slipwayhq/slipway/internal/textclean"

	"github.com/gliderlabs/ssh"
	"github.com/rs/zerolog"
	gossh "golang.org/x/crypto/ssh"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
	"github.com/slipwayhq/slipway/secrets"
)

// Extension keys set on the connection once a key has proven itself.
const (
	extUser    = "slipway-user"
	extKey     = "slipway-key-fp"
	extKeyWire = "slipway-key" // the key itself, in SSH wire format
)

// DefaultStopTimeout bounds a graceful stop when Server.StopTimeout is 0.
const DefaultStopTimeout = 20 * time.Minute

// connGrace is how long a stop waits, once every session has ended, for
// clients to close their connections before it closes them: a git push
// hangs up by itself right after its session.
const connGrace = 5 * time.Second

// Server is Slipway's SSH server.
type Server struct {
	DataDir string
	HostKey gossh.Signer
	Engine  *release.Engine
	Log     zerolog.Logger
	// Version is reported by `ssh deploy version`.
	Version string
	// StopTimeout bounds how long a graceful stop waits for running
	// sessions and deploys (DefaultStopTimeout if 0).
	StopTimeout time.Duration

	cfg    atomic.Pointer[config.Config]
	repoMu sync.Mutex
	pushes sync.Map // token → *pushSession
	// handshakes maps a remote address to its connection until it has
	// authenticated.
	handshakes sync.Map
	sessions   gate // SSH sessions and hook requests, which a stop lets finish
	deploys    sync.WaitGroup
	ctx        context.Context // lives as long as the daemon; deploys run under it
	// stopping is done once a stop begins: commands that would run until
	// the user hangs up (logs -f) end then instead of holding the stop.
	stopping context.Context
	stopNow  context.CancelFunc
	ssh      *ssh.Server
	hookSock *hookListener
}

// NewServer returns a server for cfg. exe is the slipway binary the git
// hook runs; socket is the unix socket path the hook talks to.
func NewServer(cfg *config.Config, hostKey gossh.Signer, engine *release.Engine, log zerolog.Logger) *Server {
	s := &Server{DataDir: cfg.DataDir, HostKey: hostKey, Engine: engine, Log: log}
	s.cfg.Store(cfg)
	return s
}

// Config is the configuration in force.
func (s *Server) Config() *config.Config { return s.cfg.Load() }

// SetConfig applies a new configuration to new connections.
func (s *Server) SetConfig(c *config.Config) { s.cfg.Store(c) }

// Serve accepts SSH connections on ln and hook connections on the unix
// socket at sock until ctx is done. It then stops: it closes ln at once,
// refuses new sessions on open connections, lets running sessions finish
// (a push hears its deploy to the end and its verdict), waits for deploys
// whose pusher has gone, and closes every connection. A stop that takes
// longer than StopTimeout closes everything and returns an error; a deploy
// still running then is finished or undone by the next start's recovery.
func (s *Server) Serve(ctx context.Context, ln net.Listener, sock, exe string) error {
	s.ctx = context.WithoutCancel(ctx)
	s.stopping, s.stopNow = context.WithCancel(context.Background())
	if err := s.installHook(exe); err != nil {
		return fmt.Errorf("install git hook: %w", err)
	}
	hl, err := s.listenHooks(sock)
	if err != nil {
		return err
	}
	s.hookSock = hl
	go hl.serve()
	if x := s.Config().External; x != nil {
		el, err := s.listenExternal(x)
		if err != nil {
			hl.close()
			return err
		}
		defer el.close()
		go el.serve()
	}

	s.ssh = &ssh.Server{
		Handler:     s.handleSession,
		IdleTimeout: 10 * time.Minute,
		ConnCallback: func(ctx ssh.Context, conn net.Conn) net.Conn {
			hc := newHandshakeConn(conn)
			s.handshakes.Store(conn.RemoteAddr().String(), hc)
			go func() {
				<-ctx.Done()
				s.handshakes.Delete(conn.RemoteAddr().String())
			}()
			return hc
		},
		// A handler is required: without one gliderlabs/ssh would allow
		// connections with no authentication at all.
		PublicKeyHandler: func(ctx ssh.Context, key ssh.PublicKey) bool {
			_, ok := s.Config().UserForKey(key)
			return ok
		},
		ServerConfigCallback: func(ctx ssh.Context) *gossh.ServerConfig {
			return &gossh.ServerConfig{
				// Called once, for the key that actually signed: the
				// identity is bound here, never in PublicKeyHandler,
				// which also sees keys a client merely offers.
				VerifiedPublicKeyCallback: s.verifiedKey,
				MaxAuthTries:              6,
			}
		},
		ConnectionFailedCallback: func(conn net.Conn, err error) {
			s.Log.Debug().Str("remote", conn.RemoteAddr().String()).Err(err).Msg("ssh handshake failed")
		},
	}
	s.ssh.AddHostKey(s.HostKey)

	go s.expirePending(ctx)
	errc := make(chan error, 1)
	if ln != nil { // nil: hooks of another git server only (listen = "")
		go func() { errc <- s.ssh.Serve(newLimitListener(ln, max(s.Config().MaxConnections, 1))) }()
	}
	select {
	case err := <-errc:
		hl.close()
		return err
	case <-ctx.Done():
	}
	return s.stop(ln, hl)
}

// stop is the graceful stop described at Serve.
func (s *Server) stop(ln net.Listener, hl *hookListener) error {
	timeout := s.StopTimeout
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if ln != nil {
		ln.Close()
	}
	s.stopNow()
	idle := s.sessions.close()
	s.Log.Info().Dur("timeout", timeout).Msg("stopping: no new connections; running sessions and deploys may finish")

	// Sessions first: until the last one ends, a push may still hand its
	// deploy to the daemon. Once they have, no deploy can start.
	drained := make(chan struct{})
	go func() {
		<-idle
		s.deploys.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-deadline.C:
		s.ssh.Close()
		hl.ln.Close()
		s.Log.Error().Dur("timeout", timeout).Msg("stop timed out; connections closed; a deploy still running is finished or undone at the next start")
		return fmt.Errorf("stop timed out after %v with sessions or deploys still running", timeout)
	}
	grace, cancel := context.WithTimeout(context.Background(), connGrace)
	s.ssh.Shutdown(grace) // waits for clients to hang up, or the grace
	cancel()
	s.ssh.Close()
	hl.close()
	s.Log.Info().Msg("stopped")
	return nil
}

func (s *Server) verifiedKey(conn gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions, _ string) (*gossh.Permissions, error) {
	u, ok := s.Config().UserForKey(key)
	if !ok {
		return nil, errors.New("unknown key")
	}
	if hc, ok := s.handshakes.Load(conn.RemoteAddr().String()); ok {
		hc.(*handshakeConn).authenticated()
	}
	return &gossh.Permissions{Extensions: map[string]string{
		extUser:    u.Name,
		extKey:     gossh.FingerprintSHA256(key),
		extKeyWire: string(key.Marshal()),
	}}, nil
}

// identity is who is on the other end of a session.
type identity struct {
	User   string
	Key    string          // fingerprint of the key that signed
	PubKey gossh.PublicKey // the key that signed
}

func sessionIdentity(sess ssh.Session) (identity, bool) {
	conn, ok := sess.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	if !ok || conn.Permissions == nil {
		return identity{}, false
	}
	ext := conn.Permissions.Extensions
	u, k := ext[extUser], ext[extKey]
	if u == "" || k == "" {
		return identity{}, false
	}
	pub, err := gossh.ParsePublicKey([]byte(ext[extKeyWire]))
	if err != nil {
		return identity{}, false
	}
	return identity{User: u, Key: k, PubKey: pub}, true
}

// authorized reports whether the configuration in force still binds id's
// key to id's user. A connection authenticates once, and a reload may
// since have removed the key or given it to someone else; every session
// and every push is checked again.
func (s *Server) authorized(id identity) bool {
	u, ok := s.Config().UserForKey(id.PubKey)
	return ok && u.Name == id.User
}

// keyRefusal is what a user whose key a reload removed is told.
func keyRefusal(id identity) string {
	return fmt.Sprintf("slipway: your key is no longer authorized for %s on this server (%s); ask an admin to add it to the configuration, then connect again", id.User, id.Key)
}

func (s *Server) handleSession(sess ssh.Session) {
	if !s.sessions.enter(false) {
		fmt.Fprintln(sess.Stderr(), "slipway: the server is stopping; try again in a moment")
		sess.Exit(1)
		return
	}
	defer s.sessions.leave()
	id, ok := sessionIdentity(sess)
	if !ok {
		fmt.Fprintln(sess.Stderr(), "Permission denied.")
		sess.Exit(1)
		return
	}
	log := s.Log.With().Str("user", id.User).Str("key", id.Key).Str("remote", sess.RemoteAddr().String()).Logger()
	if !s.authorized(id) {
		log.Info().Msg("session refused: the key is no longer authorized for this user")
		fmt.Fprintln(sess.Stderr(), keyRefusal(id))
		sess.Exit(1)
		return
	}
	args := sess.Command()
	if len(args) == 0 {
		fmt.Fprintf(sess, "Hi %s! This is Slipway. Deploy with git push; there is no shell here.\n\n%s", id.User, helpText())
		sess.Exit(0)
		return
	}
	switch args[0] {
	case "git-receive-pack", "git-upload-pack":
		code := s.serveGit(sess, id, args, log)
		sess.Exit(code)
	default:
		code := s.runCommand(sess, id, args)
		log.Info().Str("command", loggedCommand(args)).Int("exit", code).Msg("command")
		sess.Exit(code)
	}
}

// loggedCommand is how the server log shows a command: its arguments,
// never the raw line. A secrets command shows only its verb, app,
// environment and secret names; anything that may be a value (an argument
// after set's NAME, the VALUE of NAME=VALUE, a word that is not a valid
// name) becomes ***.
func loggedCommand(args []string) string {
	if len(args) == 0 || args[0] != "secrets" {
		return textclean.Line(strings.Join(args, " "), 80)
	}
	out := []string{"secrets"}
	for i, a := range args[1:] {
		switch {
		case i == 0: // the verb
			if a != "set" && a != "list" && a != "unset" {
				a = "***"
			}
		case i <= 2: // APP ENV
			if !config.ValidName(a) {
				a = "***"
			}
		default:
			name, _, hasValue := strings.Cut(a, "=")
			switch {
			case !secrets.ValidName(name):
				a = "***"
			case hasValue:
				a = name + "=***"
			case i > 3 && args[1] == "set":
				a = "***"
			}
		}
		out = append(out, a)
	}
	return textclean.Line(strings.Join(out, " "), 80)
}

// serveGit runs the system git for a git-receive-pack or git-upload-pack
// request and returns the exit status for the client.
func (s *Server) serveGit(sess ssh.Session, id identity, args []string, log zerolog.Logger) int {
	stderr := sess.Stderr()
	if len(args) != 2 {
		fmt.Fprintln(stderr, "slipway: usage: "+args[0]+" '<app>'")
		return 2
	}
	app, err := AppFromPath(args[1])
	if err != nil {
		log.Info().Str("path", textclean.Line(args[1], 80)).Msg("bad repository name")
		fmt.Fprintln(stderr, "slipway: "+err.Error())
		return 1
	}
	cfg := s.Config()
	if _, ok := cfg.App(app); !ok {
		log.Info().Str("app", app).Msg("unknown app")
		fmt.Fprintf(stderr, "slipway: no app %q is configured on this server; configured apps: %s\n", app, strings.Join(appNames(cfg), ", "))
		return 1
	}
	ctx := sess.Context()
	service := strings.TrimPrefix(args[0], "git-")
	// Permission first: nothing is created for someone who may not push.
	if service == "receive-pack" && !cfg.CanPush(id.User) {
		log.Info().Str("app", app).Msg("push refused: reader")
		s.audit(audit.Record{Event: audit.EventRefused, User: id.User, Key: id.Key, App: app, Detail: "push by a reader"})
		fmt.Fprintf(stderr, "slipway: %s may read but not push (role %s); pushing needs the deployer or admin role\n", id.User, roleOf(cfg, id.User))
		return 1
	}
	if service == "receive-pack" && cfg.ArtifactOnly(id.User) {
		log.Info().Str("app", app).Msg("push refused: artifact-only user")
		s.audit(audit.Record{Event: audit.EventRefused, User: id.User, Key: id.Key, App: app, Detail: "push by an artifact-only user"})
		fmt.Fprintf(stderr, "slipway: %s\n", artifactOnlyRefusal(id.User))
		return 1
	}
	if a, _ := cfg.App(app); a.Repository != "" && service == "receive-pack" {
		fmt.Fprintf(stderr, "slipway: %s is hosted by another git server (%s); push there, and its hook deploys\n", app, a.Repository)
		return 1
	}
	dir := s.repoDir(app)
	if service == "upload-pack" {
		// A fetch right after a push gets the notes its deploy writes
		// after the verdict.
		s.Engine.Wait(app, "")
		if _, err := os.Stat(dir); err != nil {
			fmt.Fprintf(stderr, "slipway: %s has no repository yet; the first git push creates it\n", app)
			return 1
		}
	} else if _, err := s.ensureRepo(ctx, app); err != nil {
		log.Error().Err(err).Str("app", app).Msg("cannot create repository")
		fmt.Fprintln(stderr, "slipway: the repository could not be created; the server log has details")
		return 1
	}

	gitArgs := append(s.gitConfig(), service, dir)
	cmd := exec.CommandContext(ctx, "git", gitArgs...)
	cmd.Env = gitEnv()
	if service == "upload-pack" {
		for _, kv := range sess.Environ() {
			// Protocol v2 makes fetches cheaper; nothing else from the
			// client's environment reaches git.
			if v, ok := strings.CutPrefix(kv, "GIT_PROTOCOL="); ok && validProtocol(v) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	if service == "receive-pack" {
		token := newToken()
		s.pushes.Store(token, &pushSession{identity: id, App: app, Repo: dir})
		defer s.pushes.Delete(token)
		cmd.Env = append(cmd.Env, "SLIPWAY_HOOK_SOCKET="+s.hookSock.path, "SLIPWAY_PUSH_TOKEN="+token)
	}
	cmd.Stdout = sess
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Error().Err(err).Msg("cannot start git")
		fmt.Fprintln(stderr, "slipway: git could not be started; the server log has details")
		return 1
	}
	// Copy the client's data to git without making Wait depend on the
	// client closing its side.
	go func() {
		io.Copy(stdin, sess)
		stdin.Close()
	}()
	err = cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if code < 0 {
			code = 1
		}
	} else if err != nil {
		code = 1
	}
	log.Info().Str("service", service).Str("app", app).Int("exit", code).Dur("duration", time.Since(start)).Msg("git service")
	return code
}

// gitEnv is the environment git runs with: the daemon's, minus anything
// that would point git elsewhere.
func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "SLIPWAY_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func validProtocol(v string) bool {
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '=' || r == ':') {
			return false
		}
	}
	return len(v) < 64
}

func appNames(cfg *config.Config) []string {
	var names []string
	for name := range cfg.Apps {
		if name == "*" {
			return []string{"any name (apps are created on first push)"}
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func roleOf(cfg *config.Config, user string) string {
	if u, ok := cfg.User(user); ok {
		return u.Role
	}
	return "none"
}

// deployRefusal is the message for a user who may not deploy env, or "".
func deployRefusal(cfg *config.Config, user string, env *config.Environment) string {
	if cfg.CanDeploy(user, env) {
		return ""
	}
	who := "deployers and admins"
	if len(env.Deployers) > 0 {
		who = strings.Join(env.Deployers, ", ") + " and admins"
	}
	return fmt.Sprintf("%s may not deploy %s/%s (role %s); %s may", user, env.App, env.Name, roleOf(cfg, user), who)
}

// expirePending drops staged releases whose approval time is up.
func (s *Server) expirePending(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Engine.ExpirePending(ctx, s.Config())
		}
	}
}
