package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gossh "golang.org/x/crypto/ssh"
)

const (
	// LocalHost names this machine in an environment's hosts: releases are
	// written to the local filesystem, without SSH. It cannot be declared in
	// [hosts].
	LocalHost = "local"

	// TemplateApp is the key in [apps] of the template used for every app
	// that is not listed by name.
	TemplateApp = "*"
)

// Duration is a time.Duration written as "10s", "1m30s" in TOML.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way time.Duration does, which UnmarshalText reads back.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with time.ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a number with a unit, such as \"10s\", \"500ms\" or \"1m30s\"", text)
	}
	*d = Duration(v)
	return nil
}

// Config is a loaded and validated slipway.toml. Relative paths in it have
// been made absolute, and keys have been read and parsed. Callers share one
// Config and must treat it as read-only.
type Config struct {
	Listen    string `toml:"listen"`     // default "127.0.0.1:2222"; host:port
	DataDir   string `toml:"data_dir"`   // default "slipway-data", relative to the config file's directory
	LogFormat string `toml:"log_format"` // "auto" (console on a terminal, JSON otherwise), "json", "console"
	LogLevel  string `toml:"log_level"`
	// MaxPushSize caps the pack a push may send, in bytes (receive.maxInputSize);
	// written like "512MiB" or "2GB"; default 1GiB.
	MaxPushSize Size `toml:"max_push_size"`
	// MaxReleaseSize caps what the tree of a pushed commit exports to, in
	// bytes: every file's size, counted once per path, so a small pack
	// whose blobs repeat or compress well cannot fill the staging
	// directory and every host. Default 2GiB; see defaultMaxReleaseSize.
	MaxReleaseSize Size `toml:"max_release_size"`
	// MaxConnections caps simultaneous SSH connections; default 64.
	MaxConnections int              `toml:"max_connections"` // "debug", "info" (default), "warn", "error"
	Users          []*User          `toml:"users"`
	SSH            SSH              `toml:"ssh"`
	HTTP           HTTP             `toml:"http"` // the web dashboard and metrics
	Hosts          map[string]*Host `toml:"hosts"`
	Apps           map[string]*App  `toml:"apps"`   // key TemplateApp ("*") is the template for apps not listed
	Notify         []*Notify        `toml:"notify"` // webhooks for deploy events
	// External, when set, opens a second hook socket for repositories
	// hosted by another git server (see External); nil: none.
	External *External `toml:"external,omitempty"`
	File     string    `toml:"-"` // path it was loaded from; "" for the built-in default
}

// User is someone allowed to push, identified by the SSH keys they sign in
// with. The user name is never taken from the SSH login name.
type User struct {
	Name     string   `toml:"name"`      // ^[a-z][a-z0-9._-]{0,63}$, unique
	Keys     []string `toml:"keys"`      // authorized_keys lines, without options
	KeysFile string   `toml:"keys_file"` // authorized_keys file; absolute after loading
	Role     string   `toml:"role"`      // admin, deployer (default) or reader
	// ArtifactOnly limits the user to `ssh … artifact`: their git pushes
	// are refused, so a CI key that ships built artifacts cannot push
	// code. Allowed for deployers only.
	ArtifactOnly bool              `toml:"artifact_only,omitempty"`
	PublicKeys   []gossh.PublicKey `toml:"-"` // parsed from Keys and KeysFile, without duplicates
}

// SSH is how Slipway reaches remote hosts. Paths are absolute after
// loading (relative ones are relative to the config file's directory).
type SSH struct {
	Key            string   `toml:"key"`             // private key; default: data_dir/id_ed25519, created on first use
	Config         string   `toml:"config"`          // ssh_config file; default: ssh's own (~/.ssh/config)
	KnownHosts     string   `toml:"known_hosts"`     // pinned host keys; default: data_dir/known_hosts
	ConnectTimeout Duration `toml:"connect_timeout"` // default 10s
	BWLimit        int      `toml:"bwlimit"`         // upload limit per host in KiB/s (rsync --bwlimit); 0: none
}

// Identities a git server can vouch for, in External.Identity.
const (
	IdentityOS       = "os"       // the OS user that runs the hook: one account per pusher
	IdentityGitolite = "gitolite" // GL_USER
	IdentityGitea    = "gitea"    // GITEA_PUSHER_NAME
	IdentityGitLab   = "gitlab"   // GL_USERNAME
)

// External is how hooks in repositories served by another git server on
// this machine reach the daemon. The hook runs as that server's OS user;
// the daemon checks the connecting process's uid (SO_PEERCRED) and takes
// the pusher's name from where Identity says, never from a variable the
// pusher could choose.
type External struct {
	Identity string `toml:"identity"` // IdentityOS, IdentityGitolite, IdentityGitea or IdentityGitLab; required
	// OSUsers are the OS users (names or numeric uids) whose hooks may
	// connect: the git server's account. Required unless Identity is
	// "os", where the OS user is the pusher and must be a Slipway user.
	OSUsers []string `toml:"os_users"`
	Socket  string   `toml:"socket"` // default data_dir/run/external.sock; absolute after loading
	// SocketGroup, when set, owns the socket, which is then mode 0660 so
	// that the git server's account can connect; "": mode 0600.
	SocketGroup string `toml:"socket_group"`
}

// Host is a remote machine reached over SSH. "local" is reserved: this
// machine, no SSH.
type Host struct {
	Name    string `toml:"-"`
	Address string `toml:"address"` // "host" or "host:port"; default: the host's name
	User    string `toml:"user"`    // "" leaves the choice to ssh (its default or ~/.ssh/config)
	Path    string `toml:"path"`    // absolute; replaces the environment's path on this host; may contain {app} and {env}
}

// IsLocal reports whether h is this machine, reached without SSH.
func (h *Host) IsLocal() bool { return h.Name == LocalHost }

// App is a deployable application: one git repository with one or more
// environments, each fed by its own branch.
type App struct {
	Name         string `toml:"-"`
	KeepReleases int    `toml:"keep_releases"` // default 5, at least 2
	// Repository is the absolute path of the app's bare repository on
	// another git server on this machine, whose proc-receive hook
	// (slipway install-hook) deploys through the external socket. ""
	// (the default): DATA/repos/APP.git, pushed to over Slipway's own SSH.
	Repository   string                  `toml:"repository,omitempty"`
	Environments map[string]*Environment `toml:"environments"` // at least one
}

// Environment is where pushes to one branch of an app are deployed.
type Environment struct {
	Name            string            `toml:"-"`
	App             string            `toml:"-"`
	Branch          string            `toml:"branch"`           // default: the environment's name; unique within the app
	Hosts           []string          `toml:"hosts"`            // default ["local"]; names from [hosts], "local", or SSH addresses
	Path            string            `toml:"path"`             // absolute after loading (relative paths are under data_dir); {app} and {env} replaced except in the template
	Waves           []string          `toml:"waves"`            // default ["1", "50%", "100%"]; a host count or a percentage each
	Parallelism     int               `toml:"parallelism"`      // default 10, at least 1
	Health          *Health           `toml:"health"`           // nil: no health check configured
	Approval        bool              `toml:"approval"`         // a deploy waits, staged on every host, for another user's approval
	Approvers       []string          `toml:"approvers"`        // who may approve (never the pusher); empty: any admin or allowed deployer
	ApprovalTimeout Duration          `toml:"approval_timeout"` // a pending release expires after this; default 24h
	Deployers       []string          `toml:"deployers"`        // users who may deploy and roll back here (admins always may); empty: every deployer
	Hooks           Hooks             `toml:"hooks"`
	Shared          Shared            `toml:"shared"`
	Env             map[string]string `toml:"env"` // added to every hook's and health command's environment
	// Subdir, if set, is the directory of the pushed tree that this
	// environment deploys (a monorepo's "services/api"): it becomes the
	// release's root on every host, and a push that changes nothing in it
	// makes no release. Relative and clean, without "..".
	Subdir string `toml:"subdir"`
	// Logs is the command `ssh … logs APP ENV` runs on each host, through
	// sh -c in the live release, printing the app's recent log lines; it
	// reads how many from $SLIPWAY_LOG_LINES. "" means logs is refused.
	Logs string `toml:"logs"`
	// LogsFollow is the command `logs -f` runs instead: it prints the same
	// lines and keeps printing new ones until the user goes away. ""
	// means -f is refused.
	LogsFollow string `toml:"logs_follow"`
}

// Hooks are operator commands run at fixed points of a deploy, through
// sh -c, with the release directory as working directory. Values from the
// push reach them only as environment variables.
type Hooks struct {
	Build        string   `toml:"build"`         // on the server, in the exported tree, before upload
	BeforeSwitch string   `toml:"before_switch"` // on each host, in the new release, before any host switches
	Migrate      string   `toml:"migrate"`       // once per deploy, on the first host, before any switch
	AfterSwitch  string   `toml:"after_switch"`  // on each host right after its switch (and after a switch back)
	AfterDeploy  string   `toml:"after_deploy"`  // on the server after the deploy, with a JSON summary on stdin
	Timeout      Duration `toml:"timeout"`       // per hook; default 10m
}

// Shared names paths that live in <path>/shared and are linked into every
// release, so they survive deploys (uploads, logs, .env).
type Shared struct {
	Dirs  []string `toml:"dirs"`
	Files []string `toml:"files"`
	// SecretsFile, if set, is a file in shared/ (0600) that Slipway
	// writes the environment's secrets into, as KEY='value' lines, on
	// every host before each deploy, and links into the release.
	SecretsFile string `toml:"secrets_file"`
}

// PathOn returns the directory that holds releases/ and current for e on
// host h: the host's path override with {app} and {env} replaced, or else
// the environment's path.
func (e *Environment) PathOn(h *Host) string {
	if h == nil || h.Path == "" {
		return e.Path
	}
	return expandPath(h.Path, e.App, e.Name)
}

// Health is a command that tells whether a freshly switched host serves
// the new release.
type Health struct {
	Command  string   `toml:"command"`  // run through sh -c on the host; this or URL is required
	Timeout  Duration `toml:"timeout"`  // per attempt; default 10s; more than 0
	Retries  int      `toml:"retries"`  // total attempts; default 3; at least 1
	Interval Duration `toml:"interval"` // between attempts; default 1s; not negative
	URL      string   `toml:"url"`      // fetched from the server instead of running Command; {host} is the host's address
	Expect   int      `toml:"expect"`   // HTTP status the URL must answer; default 200
	Body     string   `toml:"body"`     // optional substring the URL's body must contain
	Watch    Duration `toml:"watch"`    // keep checking every interval for this long after the last wave
}

// Error is one configuration problem, located in the file.
type Error struct {
	File string // config file path ("" for the built-in default)
	Line int    // 1-based; 0 when unknown
	Key  string // dotted key, e.g. "apps.shop.environments.production.hosts"; array entries are numbered from 0: "users[1].keys"
	Msg  string // human sentence, e.g. `unknown host "web-9"`
	Err  error  // underlying cause, if any (for example a *fs.PathError)
}

// Error formats e as "file:line: key: msg", leaving out the parts that are
// empty. Without a file name the line reads "line 12".
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found, in file order.
type Errors []*Error

// Error returns one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the first *Error.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// App returns the app called name: the one listed under [apps.<name>], or
// else a copy of the "*" template with Name set and {app} replaced in its
// paths. It returns false when name is not a valid app name (see ValidName)
// or when there is neither such an app nor a template. Each call for a
// templated app returns a fresh copy.
func (c *Config) App(name string) (*App, bool) {
	if !ValidName(name) {
		return nil, false
	}
	if a, ok := c.Apps[name]; ok {
		return a, true
	}
	t, ok := c.Apps[TemplateApp]
	if !ok {
		return nil, false
	}
	a := t.instantiate(name)
	// An app made from the template must not land in a listed app's
	// directory: it would deploy there past that app's deployers.
	for _, e := range a.Environments {
		for _, listed := range c.Apps {
			if listed.Name == TemplateApp {
				continue
			}
			for _, le := range listed.Environments {
				if c.sharesDirectory(e, le) {
					return nil, false
				}
			}
		}
	}
	return a, true
}

// sharesDirectory reports whether two environments deploy into the same
// directory on some host.
func (c *Config) sharesDirectory(a, b *Environment) bool {
	for _, ha := range a.Hosts {
		for _, hb := range b.Hosts {
			if ha == hb && a.PathOn(c.Host(ha)) == b.PathOn(c.Host(hb)) {
				return true
			}
		}
	}
	return false
}

// instantiate deep-copies the template t as the app called name.
func (t *App) instantiate(name string) *App {
	a := &App{
		Name:         name,
		KeepReleases: t.KeepReleases,
		Environments: make(map[string]*Environment, len(t.Environments)),
	}
	for envName, te := range t.Environments {
		e := *te
		e.App = name
		e.Path = expandPath(te.Path, name, envName)
		e.Hosts = append([]string(nil), te.Hosts...)
		e.Waves = append([]string(nil), te.Waves...)
		if te.Health != nil {
			h := *te.Health
			e.Health = &h
		}
		e.Deployers = append([]string(nil), te.Deployers...)
		e.Approvers = append([]string(nil), te.Approvers...)
		e.Shared.Dirs = append([]string(nil), te.Shared.Dirs...)
		e.Shared.Files = append([]string(nil), te.Shared.Files...)
		if te.Env != nil {
			e.Env = make(map[string]string, len(te.Env))
			for k, v := range te.Env {
				e.Env[k] = v
			}
		}
		a.Environments[envName] = &e
	}
	return a
}

// expandPath replaces the {app} and {env} placeholders in p.
func expandPath(p, app, env string) string {
	return strings.NewReplacer("{app}", app, "{env}", env).Replace(p)
}

// EnvironmentForBranch returns the environment that pushes to branch deploy.
// Branches are unique within an app, so there is at most one.
func (a *App) EnvironmentForBranch(branch string) (*Environment, bool) {
	for _, e := range a.Environments {
		if e.Branch == branch {
			return e, true
		}
	}
	return nil, false
}

// Environment returns the environment called name.
func (a *App) Environment(name string) (*Environment, bool) {
	e, ok := a.Environments[name]
	return e, ok
}

// UserForKey returns the user that k belongs to. Keys are compared in their
// wire encoding; validation guarantees a key belongs to at most one user.
func (c *Config) UserForKey(k gossh.PublicKey) (*User, bool) {
	if k == nil {
		return nil, false
	}
	want := k.Marshal()
	for _, u := range c.Users {
		for _, pk := range u.PublicKeys {
			if bytes.Equal(pk.Marshal(), want) {
				return u, true
			}
		}
	}
	return nil, false
}

// Host returns the host called name: the one declared under [hosts], or
// &Host{Name: "local"} for this machine, or else one made up from the name
// as an SSH address, where "user@host:port" sets User to "user" and Address
// to "host:port".
func (c *Config) Host(name string) *Host {
	if h, ok := c.Hosts[name]; ok {
		return h
	}
	if name == LocalHost {
		return &Host{Name: LocalHost}
	}
	h := &Host{Name: name, Address: name}
	if user, addr, ok := strings.Cut(name, "@"); ok {
		h.User, h.Address = user, addr
	}
	return h
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	userNameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)
	hostRefRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]*$`)
	hostNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
	sshUserRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)
)

// ValidName reports whether s can name an app or an environment:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$, not ending in ".git" and without "..".
// Such a name is safe as a single path component and in a repository path.
func ValidName(s string) bool {
	return nameRE.MatchString(s) && !strings.HasSuffix(s, ".git") && !strings.Contains(s, "..")
}

// ValidUserName reports whether s can name a user: ^[a-z][a-z0-9._-]{0,63}$.
func ValidUserName(s string) bool { return userNameRE.MatchString(s) }

// ValidBranch reports whether s is a branch name Slipway accepts: the rules
// of git check-ref-format for a branch, applied a little more strictly (no
// component may end in ".lock", "HEAD" is refused, at most 200 bytes, valid
// UTF-8).
func ValidBranch(s string) bool {
	if s == "" || len(s) > 200 || s == "@" || s == "HEAD" || !utf8.ValidString(s) {
		return false
	}
	if s[0] == '-' || s[0] == '/' || strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".") {
		return false
	}
	if strings.Contains(s, "..") || strings.Contains(s, "//") || strings.Contains(s, "@{") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return false
		}
	}
	for _, comp := range strings.Split(s, "/") {
		if strings.HasPrefix(comp, ".") || strings.HasSuffix(comp, ".lock") {
			return false
		}
	}
	return true
}

// validWave reports whether w is a wave size: a positive host count such as
// "1", or a percentage of the hosts from "1%" to "100%".
func validWave(w string) bool {
	if pct, ok := strings.CutSuffix(w, "%"); ok {
		n, err := strconv.Atoi(pct)
		return err == nil && pct[0] != '+' && n >= 1 && n <= 100
	}
	n, err := strconv.Atoi(w)
	return err == nil && w[0] != '+' && n >= 1
}

// Roles a user can have.
const (
	RoleAdmin    = "admin"    // everything
	RoleDeployer = "deployer" // push and roll back where allowed; read everything
	RoleReader   = "reader"   // clone, fetch, status (also --live), releases, log, logs
)

// User returns the user called name.
func (c *Config) User(name string) (*User, bool) {
	for _, u := range c.Users {
		if u.Name == name {
			return u, true
		}
	}
	return nil, false
}

// CanPush reports whether user may push at all (branches and tags that
// deploy nothing included).
func (c *Config) CanPush(user string) bool {
	u, ok := c.User(user)
	return ok && (u.Role == RoleAdmin || u.Role == RoleDeployer)
}

// ArtifactOnly reports whether user may deploy only artifacts (see
// User.ArtifactOnly): CanPush and CanDeploy still say where, but git
// pushes are refused.
func (c *Config) ArtifactOnly(user string) bool {
	u, ok := c.User(user)
	return ok && u.ArtifactOnly
}

// CanDeploy reports whether user may deploy and roll back env: admins
// always, deployers when env lists no deployers or lists them.
func (c *Config) CanDeploy(user string, env *Environment) bool {
	u, ok := c.User(user)
	if !ok {
		return false
	}
	switch u.Role {
	case RoleAdmin:
		return true
	case RoleDeployer:
		if len(env.Deployers) == 0 {
			return true
		}
		for _, d := range env.Deployers {
			if d == user {
				return true
			}
		}
	}
	return false
}

// Size is a number of bytes written with an optional unit: "512MiB",
// "2GB", "100k", "1048576".
type Size int64

// ParseSize reads a Size.
func ParseSize(s string) (Size, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"k", 1000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size: write bytes, or a number with KiB, MiB, GiB, KB, MB or GB", s)
	}
	return Size(n * mult), nil
}

// CanApprove reports whether user may approve a release of env that pusher
// pushed: a listed approver (or, when none are listed, anyone who may
// deploy env), and never the pusher.
func (c *Config) CanApprove(user, pusher string, env *Environment) bool {
	if user == pusher {
		return false
	}
	if len(env.Approvers) == 0 {
		return c.CanDeploy(user, env)
	}
	for _, a := range env.Approvers {
		if a == user {
			_, ok := c.User(user)
			return ok
		}
	}
	return false
}
