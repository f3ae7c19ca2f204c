package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	gossh "golang.org/x/crypto/ssh"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/gitserver"
	"github.com/slipwayhq/slipway/notify"
	"github.com/slipwayhq/slipway/release"
	"github.com/slipwayhq/slipway/release/transport"
	"github.com/slipwayhq/slipway/release/transport/openssh"
	"github.com/slipwayhq/slipway/secrets"
)

type serveCommand struct{}

func (c *serveCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway serve [--config FILE] [--stop-timeout DURATION]

Runs the SSH server that deploys on git push. Without --config it reads
./slipway.toml, or else runs on its built-in default: it listens on
127.0.0.1:2222, accepts your own SSH keys, and deploys any app to this
machine (branch main to staging, branch production to production).

SIGHUP reloads the configuration; it applies to the next session, also on
connections already open. SIGTERM stops accepting connections, lets running
pushes and commands finish (a pusher sees the deploy to the end), then
exits; after --stop-timeout (default 20m) it closes what is left, and the
next start finishes or undoes an interrupted deploy. A second SIGTERM
stops at once.

Example:
  slipway serve --config /etc/slipway/slipway.toml`)
}

func (c *serveCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway serve", flag.ContinueOnError)
	fs.Usage = c.Usage
	path := fs.String("config", "", "configuration file (default ./slipway.toml, else the built-in default)")
	stopTimeout := fs.Duration("stop-timeout", gitserver.DefaultStopTimeout, "how long SIGTERM waits for running pushes and deploys")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *stopTimeout <= 0 {
		return usagef("--stop-timeout must be positive, like 20m")
	}
	cfg, embedded, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	hostKey, err := loadOrCreateHostKey(filepath.Join(cfg.DataDir, "ssh_host_ed25519_key"))
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the slipway binary for the git hook: %w", err)
	}
	opt, err := sshOptions(cfg)
	if err != nil {
		return err
	}
	// A daemon killed during a deploy leaves its ssh and rsync running;
	// recovery must not read and switch the hosts while they still can.
	stopped, err := release.StopLeftovers(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	if stopped > 0 {
		log.Warn().Int("groups", stopped).Msg("stopped the ssh and rsync processes a killed slipway serve had left running")
	}
	group, err := release.StartProcGroup(cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer group.Close()
	// Connections to recently deployed hosts stay open between deploys.
	// The bound must exceed the largest environment: a deploy uses its
	// hosts in order, so with fewer masters than hosts the least recently
	// used one is always the next to be needed, and every host pays a
	// handshake (at 100 hosts and a bound of 64, all 100 did). A master
	// is one idle ssh process, about 1.5 MB of its own memory. Retain
	// raises the bound to the number of hosts the configuration names.
	opt.Pool = openssh.NewPool(512, 10*time.Minute)
	opt.Pool.Retain(cfg)
	defer opt.Pool.Close()
	engine := &release.Engine{
		DataDir: cfg.DataDir,
		Log:     log,
		Audit:   audit.Open(filepath.Join(cfg.DataDir, "audit.log")),
		Secrets: secrets.Open(filepath.Join(cfg.DataDir, "secrets")),
	}
	srv := gitserver.NewServer(cfg, hostKey, engine, log)
	engine.Connect = transport.Connector(srv.Config, transport.Options{Procs: group, SSH: opt})
	engine.Notify = notify.New(func() []*config.Notify { return srv.Config().Notify }, log, notify.DefaultQueue)
	srv.Version = versionString()
	srv.StopTimeout = *stopTimeout

	// Interrupted deploys are settled before any push can start a new one.
	if err := engine.Recover(ctx, cfg); err != nil {
		log.Error().Err(err).Msg("some interrupted deploys are not recovered; their environments may run mixed releases")
	}
	if cfg.Listen == "" {
		// Behind another git server only: its hooks are the way in.
		go reloadOnHangup(ctx, srv, opt.Pool, *path, embedded, log)
		log.Info().Str("external_socket", cfg.External.Socket).Str("identity", cfg.External.Identity).
			Str("data_dir", cfg.DataDir).Str("version", srv.Version).Msg("slipway serving hooks of another git server; no SSH listener")
		fmt.Fprintf(os.Stdout, "Slipway %s takes pushes from another git server's hooks on %s (no SSH listener).\nData directory: %s\nConfiguration: %s\n",
			versionString(), cfg.External.Socket, cfg.DataDir, cfg.File)
		err := srv.Serve(ctx, nil, socketPath(cfg.DataDir), exe)
		engine.WaitAll(context.Background(), "", "")
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	dashURL, stopDashboard, err := startDashboard(cfg, embedded, srv, engine, log)
	if err != nil {
		ln.Close()
		return err
	}
	// The dashboard stays up while running deploys finish.
	defer stopDashboard()
	go reloadOnHangup(ctx, srv, opt.Pool, *path, embedded, log)

	log.Info().Str("listen", ln.Addr().String()).Str("data_dir", cfg.DataDir).
		Str("host_key", gossh.FingerprintSHA256(hostKey.PublicKey())).Str("version", srv.Version).Msg("slipway serving")
	printWelcome(os.Stdout, cfg, embedded, ln.Addr().String(), hostKey)
	if dashURL != "" {
		fmt.Fprintf(os.Stdout, "Dashboard: %s\n", dashURL)
	}
	err = srv.Serve(ctx, ln, socketPath(cfg.DataDir), exe)
	// Deploys have ended; what they left for after their verdicts ends
	// too, and their last notifications get a bounded time.
	engine.WaitAll(context.Background(), "", "")
	engine.Notify.Close(notifyDrainTimeout)
	return err
}

// lockDataDir makes this daemon the only one on dataDir: DATA/run/serve.lock
// stays locked (flock) for as long as the process lives, crash or not, and
// holds its pid for the message a second one prints. Children do not
// inherit the lock (close-on-exec). Keep the file open until exit.
func lockDataDir(dataDir string) (*os.File, error) {
	dir := filepath.Join(dataDir, "run")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another slipway serve"
			if data, _ := os.ReadFile(path); len(strings.TrimSpace(string(data))) > 0 {
				who += " (pid " + strings.TrimSpace(string(data)) + ")"
			}
			return nil, fmt.Errorf("%s is running with the data directory %s; stop it first, or give this one another data_dir", who, dataDir)
		}
		return nil, fmt.Errorf("lock the data directory %s: %w", dataDir, err)
	}
	// The pid only makes the message above more helpful.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	return f, nil
}

// notifyDrainTimeout bounds how long a stopping server keeps delivering
// queued notifications.
const notifyDrainTimeout = 10 * time.Second

// socketPath is the hook socket. Unix socket paths are limited to about
// 100 bytes, so a deep data directory gets a socket in the temp directory.
func socketPath(dataDir string) string {
	p := filepath.Join(dataDir, "run", "hook.sock")
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(os.TempDir(), "slipway-"+hex.EncodeToString(sum[:6])+".sock")
}

func reloadOnHangup(ctx context.Context, srv *gitserver.Server, pool *openssh.Pool, path string, embedded bool, log zerolog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, _, err := loadConfig(path)
		if embedded {
			cfg, err = config.Default()
		}
		if err != nil {
			log.Error().Err(err).Msg("configuration not reloaded; the previous one stays in force")
			continue
		}
		if cfg.DataDir != srv.DataDir || cfg.Listen != srv.Config().Listen || cfg.HTTP.Listen != srv.Config().HTTP.Listen {
			log.Warn().Msg("listen, http.listen and data_dir changes take effect on restart")
		}
		srv.SetConfig(cfg)
		pool.Retain(cfg) // hosts no environment names any more
		log.Info().Int("users", len(cfg.Users)).Int("apps", len(cfg.Apps)).Msg("configuration reloaded")
	}
}

func newLogger(cfg *config.Config, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil || cfg.LogLevel == "" {
		level = zerolog.InfoLevel
	}
	console := cfg.LogFormat == "console"
	if cfg.LogFormat == "" || cfg.LogFormat == "auto" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	zerolog.DurationFieldUnit = time.Millisecond
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// loadOrCreateHostKey reads the server's SSH host key, creating it (0600)
// on first start.
func loadOrCreateHostKey(path string) (gossh.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := gossh.MarshalPrivateKey(priv, "slipway host key")
		if err != nil {
			return nil, err
		}
		data = pem.EncodeToMemory(block)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("write host key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", path, err)
	}
	return signer, nil
}

func printWelcome(w io.Writer, cfg *config.Config, embedded bool, addr string, hostKey gossh.Signer) {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	remote := fmt.Sprintf("ssh://git@%s:%s/", host, port)
	fmt.Fprintf(w, "Slipway %s is listening on %s (host key %s).\n", versionString(), addr, gossh.FingerprintSHA256(hostKey.PublicKey()))
	fmt.Fprintf(w, "Data directory: %s\n", cfg.DataDir)
	if !embedded {
		fmt.Fprintf(w, "Configuration: %s\n", cfg.File)
		return
	}
	var users []string
	for _, u := range cfg.Users {
		users = append(users, fmt.Sprintf("%s (%s)", u.Name, plural(len(u.PublicKeys), "key")))
	}
	deployDir := filepath.Join(cfg.DataDir, "deploy")
	fmt.Fprintf(w, `No slipway.toml here, so this is the built-in configuration:
  users:  %s, from ~/.ssh/authorized_keys and ~/.ssh/*.pub
  apps:   any name, created on first push
  deploy: branch main → staging, branch production → production,
          on this machine under %s/<app>/<env>

Try it from any git repository with a commit on main:
  git remote add deploy %smyapp
  git push deploy main
  readlink %s/myapp/staging/current

Write your own configuration with: slipway init
`, strings.Join(users, ", "), deployDir, remote, deployDir)
}
