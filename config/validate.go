package config

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

const keyExample = `"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5... you@laptop"`

// finish completes a decoded Config: it resolves paths against base (the
// config file's directory), reads and parses keys, and checks everything,
// adding each problem to d.errs.
func (d *decoder) finish(c *Config, base string) {
	d.resolve(c, base)
	d.checkServer(c)
	d.checkHTTP(c, base)
	d.checkUsers(c)
	d.checkHosts(c)
	d.checkApps(c)
	d.checkNotify(c)
	d.checkExternal(c)
}

// resolve makes data_dir, keys_file and environment paths absolute and
// replaces {app} and {env} in the paths of listed apps.
func (d *decoder) resolve(c *Config, base string) {
	root := keyPath(nil)
	if c.DataDir == "" {
		d.errorf(root.key("data_dir"), "must not be empty: it is the directory for repositories and state, such as %q", defaultDataDir)
	} else if p, err := localPath(base, c.DataDir); err != nil {
		d.errorf(root.key("data_dir"), "%v", err)
	} else {
		c.DataDir = p
	}
	for i, u := range c.Users {
		if u.KeysFile == "" {
			continue
		}
		if p, err := localPath(base, u.KeysFile); err != nil {
			d.errorf(root.key("users").index(i).key("keys_file"), "%v", err)
		} else {
			u.KeysFile = p
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"key", &c.SSH.Key}, {"config", &c.SSH.Config}, {"known_hosts", &c.SSH.KnownHosts}} {
		if *f.dst == "" {
			continue
		}
		if p, err := localPath(base, *f.dst); err != nil {
			d.errorf(root.key("ssh").key(f.name), "%v", err)
		} else {
			*f.dst = p
		}
	}
	if c.MaxPushSize < 1<<20 {
		d.errorf(root.key("max_push_size"), "must be at least 1MiB (got %d bytes)", c.MaxPushSize)
	}
	if c.MaxReleaseSize < 1<<20 {
		d.errorf(root.key("max_release_size"), "must be at least 1MiB (got %d bytes)", c.MaxReleaseSize)
	}
	if c.MaxConnections < 1 {
		d.errorf(root.key("max_connections"), "must be at least 1 (got %d)", c.MaxConnections)
	}
	if c.SSH.BWLimit < 0 {
		d.errorf(root.key("ssh").key("bwlimit"), "must be 0 (no limit) or a rate in KiB/s (got %d)", c.SSH.BWLimit)
	}
	if c.SSH.ConnectTimeout <= 0 {
		d.errorf(root.key("ssh").key("connect_timeout"), "must be positive (got %s)", c.SSH.ConnectTimeout)
	}
	for name, h := range c.Hosts {
		if h.Path == "" {
			continue
		}
		p := root.key("hosts").key(name).key("path")
		if !filepath.IsAbs(h.Path) || hasDotDot(h.Path) {
			d.errorf(p, "must be an absolute path on the host without \"..\" (got %q); it may contain {app} and {env}", h.Path)
		} else if unknownPlaceholder(h.Path) {
			d.errorf(p, "%q has an unknown placeholder: only {app} and {env} are replaced", h.Path)
		}
	}
	if x := c.External; x != nil && c.DataDir != "" {
		if x.Socket == "" {
			x.Socket = filepath.Join(c.DataDir, "run", "external.sock")
		} else if p, err := localPath(base, x.Socket); err != nil {
			d.errorf(root.key("external").key("socket"), "%v", err)
		} else {
			x.Socket = p
		}
	}
	for appName, a := range c.Apps {
		for envName, e := range a.Environments {
			d.resolveEnvPath(c, a, e, root.key("apps").key(appName).key("environments").key(envName).key("path"))
		}
	}
}

func (d *decoder) resolveEnvPath(c *Config, a *App, e *Environment, p keyPath) {
	switch {
	case e.Path == "":
		d.errorf(p, `is required: the directory that holds releases/ and current on each host, absolute or relative to data_dir, such as "/srv/{app}/%s"`, e.Name)
		return
	case unknownPlaceholder(e.Path):
		d.errorf(p, "%q has an unknown placeholder: only {app} and {env} are replaced", e.Path)
		return
	case strings.HasPrefix(e.Path, "~"):
		d.errorf(p, "%q starts with ~, which is not expanded here: write an absolute path, or one relative to data_dir", e.Path)
		return
	case hasDotDot(e.Path):
		d.errorf(p, "%q must not contain \"..\": write the directory itself", e.Path)
		return
	}
	if a.Name == TemplateApp {
		if !strings.Contains(e.Path, "{app}") {
			d.errorf(p, `%q must contain {app}: otherwise every app made from the "*" template would deploy to the same directory`, e.Path)
		}
		e.Path = strings.ReplaceAll(e.Path, "{env}", e.Name)
	} else {
		e.Path = expandPath(e.Path, a.Name, e.Name)
	}
	if !filepath.IsAbs(e.Path) && c.DataDir != "" {
		e.Path = filepath.Join(c.DataDir, e.Path)
	}
	e.Path = filepath.Clean(e.Path)
}

func unknownPlaceholder(p string) bool {
	return strings.ContainsAny(strings.NewReplacer("{app}", "", "{env}", "").Replace(p), "{}")
}

// localPath makes p absolute against base, expanding a leading ~ to the
// home directory.
func localPath(base, p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot expand ~ in %q: %v", p, err)
		}
		p = filepath.Join(home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p), nil
}

func (d *decoder) checkServer(c *Config) {
	root := keyPath(nil)
	if c.Listen == "" && c.External != nil {
		// Hooks of another git server only: no SSH listener.
	} else if c.Listen == "" {
		d.errorf(root.key("listen"), `is empty, which turns Slipway's own SSH server off; that only makes sense with an [external] table for hooks in repositories served elsewhere (or give host:port, such as "127.0.0.1:2222")`)
	} else if host, port, err := net.SplitHostPort(c.Listen); err != nil || strings.ContainsAny(host, " \t") {
		d.errorf(root.key("listen"), `must be host:port, such as "127.0.0.1:2222" or ":2222" (got %q)`, c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		d.errorf(root.key("listen"), "has the port %q: a port is a number from 0 to 65535", port)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		d.errorf(root.key("log_format"), `must be "auto", "json" or "console" (got %q)`, c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		d.errorf(root.key("log_level"), `must be "debug", "info", "warn" or "error" (got %q)`, c.LogLevel)
	}
}

// checkUsers checks user names, parses every user's keys into PublicKeys
// and makes sure that each key identifies one user.
func (d *decoder) checkUsers(c *Config) {
	type owner struct {
		user int
		at   keyPath
	}
	names := map[string]keyPath{}
	owners := map[string]owner{}
	for i, u := range c.Users {
		up := keyPath{{name: "users"}}.index(i)
		who := fmt.Sprintf("user %q", u.Name)
		if u.Role != RoleAdmin && u.Role != RoleDeployer && u.Role != RoleReader {
			d.errorf(up.key("role"), `%q is not a role: use "admin", "deployer" or "reader"`, u.Role)
		} else if u.ArtifactOnly && u.Role != RoleDeployer {
			d.errorf(up.key("artifact_only"), `is for deployers only: user %q has role %q; an artifact-only key is a deployer's (role = "deployer")`, u.Name, u.Role)
		}
		switch prev, dup := names[u.Name]; {
		case u.Name == "":
			d.errorf(up.key("name"), `is required: every user needs a name, such as name = "alice"`)
			who = "this user"
		case !ValidUserName(u.Name):
			d.errorf(up.key("name"), "%q is not a valid user name: use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter", u.Name)
		case dup:
			d.errorf(up.key("name"), "user %q is already declared at %s (line %d)", u.Name, prev, d.line(prev))
		default:
			names[u.Name] = up
		}

		u.PublicKeys = nil
		keyProblems := false
		add := func(pk gossh.PublicKey, at keyPath, where string) {
			k := string(pk.Marshal())
			if o, ok := owners[k]; ok {
				if o.user != i {
					d.errorf(at, "%skey %s of %s also belongs to user %q (%s, line %d); a key must identify exactly one user",
						where, gossh.FingerprintSHA256(pk), who, c.Users[o.user].Name, o.at, d.line(o.at))
					keyProblems = true
				}
				return
			}
			owners[k] = owner{user: i, at: at}
			u.PublicKeys = append(u.PublicKeys, pk)
		}
		for j, line := range u.Keys {
			at := up.key("keys").index(j)
			pk, problem := parseKey(line, true)
			if problem != "" {
				d.errorf(at, "key of %s %s", who, problem)
				keyProblems = true
				continue
			}
			add(pk, at, "")
		}
		if u.KeysFile != "" {
			at := up.key("keys_file")
			data, err := os.ReadFile(u.KeysFile)
			if err != nil {
				d.errorf(at, "cannot read the keys of %s from %s: %s", who, u.KeysFile, pathErrorCause(err))
				keyProblems = true
			}
			for n, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				where := fmt.Sprintf("%s:%d: ", u.KeysFile, n+1)
				pk, problem := parseKey(line, false)
				if problem != "" {
					d.errorf(at, "%skey of %s %s", where, who, problem)
					keyProblems = true
					continue
				}
				add(pk, at, where)
			}
		}
		// Behind another git server, that server authenticates the
		// pushers: a user may have no key for Slipway's own SSH server.
		if len(u.PublicKeys) == 0 && !keyProblems && !d.badUnder(up.key("keys")) && c.External == nil {
			d.errorf(up, "%s has no keys: add keys = [%s] or keys_file = \"path/to/authorized_keys\"", who, keyExample)
		}
	}
}

// parseKey parses one authorized_keys line and returns the key, or else a
// description of the problem that completes "key of user X ...".
func parseKey(line string, single bool) (gossh.PublicKey, string) {
	if strings.TrimSpace(line) == "" {
		return nil, "is empty: write a public key such as " + keyExample
	}
	pk, _, options, rest, err := gossh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, "cannot be parsed: write a public key line as found in ~/.ssh/id_ed25519.pub, such as " + keyExample
	}
	if len(options) > 0 {
		return nil, fmt.Sprintf("has authorized_keys options (%s), which Slipway does not apply: remove them, or give this user another key", strings.Join(options, ","))
	}
	if _, ok := pk.(*gossh.Certificate); ok {
		return nil, "is a certificate: write the plain public key instead (the .pub file without -cert)"
	}
	if single && strings.TrimSpace(string(rest)) != "" {
		return nil, "holds more than one line: write each key as its own string"
	}
	return pk, ""
}

func (d *decoder) checkHosts(c *Config) {
	hp := keyPath{{name: "hosts"}}
	for _, name := range d.ordered(hp, sortedKeys(c.Hosts)) {
		h, p := c.Hosts[name], hp.key(name)
		switch {
		case name == LocalHost:
			d.errorf(p, `"local" is reserved for this machine and cannot be declared; list "local" in an environment's hosts, or give this host another name`)
		case !hostNameRE.MatchString(name):
			d.errorf(p, "%q is not a valid host name: use letters, digits, '.', '_' or '-', starting with a letter or digit", name)
		}
		if problem := addressProblem(h.Address); problem != "" {
			d.errorf(p.key("address"), "%s", problem)
		}
		if h.User != "" && !sshUserRE.MatchString(h.User) {
			d.errorf(p.key("user"), "%q is not a valid SSH user name: use letters, digits, '.', '_' or '-', not starting with '.' or '-'", h.User)
		}
	}
}

// addressProblem describes what is wrong with an SSH address, or returns "".
func addressProblem(addr string) string {
	const allowed = `use "host" or "host:port", such as "web-1.example.com" or "10.0.0.5:2222"`
	if addr == "" {
		return "must not be empty: " + allowed
	}
	if strings.Contains(addr, "@") {
		return fmt.Sprintf("%q contains a user name: write it as user = \"...\" and only the host here", addr)
	}
	host, port := addr, ""
	if strings.Contains(addr, ":") && net.ParseIP(addr) == nil {
		var err error
		if host, port, err = net.SplitHostPort(addr); err != nil {
			return fmt.Sprintf("%q is not a valid address: %s", addr, allowed)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q has the port %q: a port is a number from 1 to 65535", addr, port)
		}
	}
	if net.ParseIP(host) == nil && !hostNameRE.MatchString(host) {
		return fmt.Sprintf("%q is not a valid address: %s", addr, allowed)
	}
	return ""
}

func (d *decoder) checkApps(c *Config) {
	ap := keyPath{{name: "apps"}}
	appNames := d.ordered(ap, sortedKeys(c.Apps))
	for _, name := range appNames {
		d.checkApp(c, name, ap.key(name))
	}

	// Two environments deploying into the same directory of the same host
	// would replace each other's releases.
	seen := map[string]keyPath{}
	for _, name := range appNames {
		if name != TemplateApp {
			d.checkOverlap(c, c.Apps[name], ap.key(name), seen)
		}
	}
	if t, ok := c.Apps[TemplateApp]; ok {
		// Every app made from the template is checked at once: their paths
		// differ only by the app name.
		d.checkOverlap(c, t.instantiate("{app}"), ap.key(TemplateApp), map[string]keyPath{})
	}
}

func (d *decoder) checkApp(c *Config, name string, p keyPath) {
	a := c.Apps[name]
	if name != TemplateApp && !ValidName(name) {
		d.errorf(p, `%q is not a valid app name: use up to 100 letters, digits, '.', '_' or '-', starting with a letter or digit, without ".." and not ending in ".git"; or "*" for the template of apps not listed`, name)
	}
	if a.Repository != "" {
		rp := p.key("repository")
		switch {
		case name == TemplateApp:
			d.errorf(rp, `cannot be set on the "*" template: each app hosted elsewhere names its own repository under [apps.NAME]`)
		case !filepath.IsAbs(a.Repository) || hasDotDot(a.Repository):
			d.errorf(rp, "%q must be the absolute path of a bare repository on this machine, without \"..\", such as \"/srv/git/%s.git\"", a.Repository, name)
		case c.External == nil:
			d.errorf(rp, `needs an [external] table: it names a repository served by another git server, whose hook reaches Slipway through the external socket`)
		default:
			a.Repository = filepath.Clean(a.Repository)
		}
	}
	if a.KeepReleases < 2 {
		d.errorf(p.key("keep_releases"), "must be at least 2 (got %d): the previous release is kept for rollback", a.KeepReleases)
	}
	envs := p.key("environments")
	if len(a.Environments) == 0 && !d.badUnder(envs) {
		d.errorf(envs, "app %q has no environments: add at least one, such as [%s]", name, envs.key("production"))
	}
	branches := map[string]keyPath{}
	for _, envName := range d.ordered(envs, sortedKeys(a.Environments)) {
		e, ep := a.Environments[envName], envs.key(envName)
		if !ValidName(envName) {
			d.errorf(ep, `%q is not a valid environment name: use up to 100 letters, digits, '.', '_' or '-', starting with a letter or digit, without ".." and not ending in ".git"`, envName)
		}
		if !ValidBranch(e.Branch) {
			d.errorf(ep.key("branch"), "%q is not a valid git branch name: use letters, digits, '/', '.', '_' or '-', such as \"main\" or \"release/production\"", e.Branch)
		} else if prev, dup := branches[e.Branch]; dup {
			d.errorf(ep.key("branch"), "branch %q already deploys %s (line %d): each branch deploys one environment", e.Branch, prev, d.line(prev))
		} else {
			branches[e.Branch] = ep
		}
		d.checkEnvHosts(c, name, e, ep.key("hosts"))
		if len(e.Waves) == 0 && !d.badUnder(ep.key("waves")) {
			d.errorf(ep.key("waves"), `must list at least one wave, such as ["1", "50%%", "100%%"]`)
		}
		for j, w := range e.Waves {
			if !validWave(w) {
				d.errorf(ep.key("waves").index(j), `%q is not a wave size: use a number of hosts such as "1", or a percentage from "1%%" to "100%%" such as "50%%"`, w)
			}
		}
		for j, name := range e.Approvers {
			if _, ok := c.User(name); !ok {
				d.errorf(ep.key("approvers").index(j), "%q is not a user: list names from [[users]]", name)
			}
		}
		if e.ApprovalTimeout <= 0 {
			d.errorf(ep.key("approval_timeout"), `must be more than 0 (got %s), such as "24h"`, e.ApprovalTimeout)
		}
		for j, name := range e.Deployers {
			if _, ok := c.User(name); !ok {
				d.errorf(ep.key("deployers").index(j), "%q is not a user: list names from [[users]]", name)
			}
		}
		if e.Hooks.Timeout <= 0 {
			d.errorf(ep.key("hooks").key("timeout"), `must be more than 0 (got %s), such as "10m"`, e.Hooks.Timeout)
		}
		for k, list := range map[string][]string{"dirs": e.Shared.Dirs, "files": e.Shared.Files} {
			for j, sp := range list {
				if !validSharedPath(sp) {
					d.errorf(ep.key("shared").key(k).index(j), `%q must be a relative path inside the release, without ".." (such as "media" or "config/.env")`, sp)
				}
			}
		}
		if f := e.Shared.SecretsFile; f != "" && !validSharedPath(f) {
			d.errorf(ep.key("shared").key("secrets_file"), `%q must be a relative path inside the release, without ".." (such as ".env")`, f)
		}
		if e.Subdir != "" && !validSharedPath(e.Subdir) {
			msg := `%q must be a directory of the pushed tree, relative and clean, without ".." (such as "services/api")`
			if c := path.Clean(strings.TrimPrefix(e.Subdir, "/")); !hasDotDot(e.Subdir) && validSharedPath(c) {
				d.errorf(ep.key("subdir"), msg+`; did you mean %q?`, e.Subdir, c)
			} else {
				d.errorf(ep.key("subdir"), msg, e.Subdir)
			}
		}
		for k := range e.Env {
			if !envNameRE.MatchString(k) || strings.HasPrefix(k, "SLIPWAY_") {
				d.errorf(ep.key("env").key(k), `%q is not a usable variable name: letters, digits and _, not starting with a digit or SLIPWAY_`, k)
			}
		}
		if e.Parallelism < 1 {
			d.errorf(ep.key("parallelism"), "must be at least 1 (got %d): it is how many hosts receive the release at the same time", e.Parallelism)
		}
		if h := e.Health; h != nil {
			hp := ep.key("health")
			if strings.TrimSpace(h.Command) == "" && h.URL == "" {
				d.errorf(hp.key("command"), `a command or a url is required when [health] is present: a command run through sh -c on each host after the switch, such as "curl -fsS http://localhost:8080/health", or url = "http://{host}:8080/health"`)
			}
			if h.Command != "" && h.URL != "" {
				d.errorf(hp.key("url"), "give either command or url, not both")
			}
			if h.URL != "" && !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
				d.errorf(hp.key("url"), "%q must start with http:// or https://", h.URL)
			}
			if h.Expect < 100 || h.Expect > 599 {
				d.errorf(hp.key("expect"), "must be an HTTP status from 100 to 599 (got %d)", h.Expect)
			}
			if h.Watch < 0 {
				d.errorf(hp.key("watch"), "must not be negative (got %s)", h.Watch)
			}
			if h.Timeout <= 0 {
				d.errorf(hp.key("timeout"), `must be more than 0 (got %s), such as "10s"`, h.Timeout)
			}
			if h.Retries < 1 {
				d.errorf(hp.key("retries"), "must be at least 1 (got %d): it is the total number of attempts", h.Retries)
			}
			if h.Interval < 0 {
				d.errorf(hp.key("interval"), `must not be negative (got %s); "0s" retries at once`, h.Interval)
			}
		}
	}
}

func (d *decoder) checkEnvHosts(c *Config, app string, e *Environment, p keyPath) {
	if len(e.Hosts) == 0 && !d.badUnder(p) {
		d.errorf(p, `must list at least one host: "local" for this machine, a name from [hosts], or an SSH address`)
	}
	seen := map[string]bool{}
	for j, name := range e.Hosts {
		at := p.index(j)
		if !hostRefRE.MatchString(name) {
			d.errorf(at, `%q is not a valid host: use "local", a name from [hosts], or an SSH address such as "deploy@web-1.example.com:2222" (letters, digits, '.', '_', '-', '@' and ':', starting with a letter or digit)`, name)
			continue
		}
		if seen[name] {
			d.errorf(at, "host %q is listed twice", name)
			continue
		}
		seen[name] = true
		if name == LocalHost {
			continue
		}
		h := c.Host(name)
		if _, declared := c.Hosts[name]; !declared {
			if problem := addressProblem(h.Address); problem != "" {
				d.errorf(at, "host %q is not declared in [hosts], so it is used as an SSH address, but %s", name, problem)
			} else if h.User != "" && !sshUserRE.MatchString(h.User) {
				d.errorf(at, "host %q has the user %q, which is not a valid SSH user name", name, h.User)
			}
		}
		if app == TemplateApp && h.Path != "" && !strings.Contains(h.Path, "{app}") {
			d.errorf(at, `host %q has the path %q without {app}: every app made from the "*" template would deploy to the same directory there`, name, h.Path)
		}
	}
}

// checkOverlap reports environments of a that deploy into a directory of a
// host that an environment seen before already uses, and records a's.
func (d *decoder) checkOverlap(c *Config, a *App, p keyPath, seen map[string]keyPath) {
	envs := p.key("environments")
	for _, envName := range d.ordered(envs, sortedKeys(a.Environments)) {
		e, ep := a.Environments[envName], envs.key(envName)
		if e.Path == "" {
			continue
		}
		for j, name := range e.Hosts {
			if slices.Contains(e.Hosts[:j], name) {
				continue // reported by checkEnvHosts
			}
			h := c.Host(name)
			dir := e.PathOn(h)
			k := name + "\x00" + dir
			prev, dup := seen[k]
			if !dup {
				seen[k] = ep
				continue
			}
			from := ""
			if h.Path != "" {
				from = fmt.Sprintf(" (from hosts.%s.path)", keyPath{{name: name}})
			}
			d.errorf(ep.key("path"), "deploys to %s%s on host %q, as %s does (line %d): each environment needs its own directory",
				dir, from, name, prev, d.line(prev))
			break
		}
	}
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validSharedPath accepts a clean relative path such as "media" or
// "config/.env": linked into a release, it must stay inside it.
func validSharedPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\n") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// hasDotDot reports whether a path has a ".." component, which would let
// paths that look distinct (say /srv/{app}/..) name the same directory.
func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func (d *decoder) checkExternal(c *Config) {
	x := c.External
	if x == nil {
		return
	}
	p := keyPath{{name: "external"}}
	switch x.Identity {
	case IdentityOS, IdentityGitolite, IdentityGitea, IdentityGitLab:
	case "":
		d.errorf(p.key("identity"), `is required: which git server runs the hooks and so vouches for the pusher: "os" (one OS account per pusher, such as a plain bare repository over OpenSSH), "gitolite", "gitea" or "gitlab"`)
	default:
		d.errorf(p.key("identity"), `%q is not a git server Slipway knows: use "os", "gitolite", "gitea" or "gitlab"`, x.Identity)
	}
	if len(x.OSUsers) == 0 && x.Identity != IdentityOS && x.Identity != "" && !d.badUnder(p.key("os_users")) {
		d.errorf(p.key("os_users"), `is required with identity = %q: the OS account the git server runs hooks as, such as ["git"]; only its hooks may connect`, x.Identity)
	}
	for i, u := range x.OSUsers {
		if !sshUserRE.MatchString(u) {
			d.errorf(p.key("os_users").index(i), "%q is not an OS user name or uid", u)
		}
	}
	// One repository feeds one app: its tags are that app's releases.
	ap := keyPath{{name: "apps"}}
	seen := map[string]string{}
	for _, name := range d.ordered(ap, sortedKeys(c.Apps)) {
		r := c.Apps[name].Repository
		if r == "" || name == TemplateApp || !filepath.IsAbs(r) {
			continue
		}
		if prev, dup := seen[r]; dup {
			d.errorf(ap.key(name).key("repository"), "%s is already the repository of app %q: one repository feeds one app", r, prev)
			continue
		}
		seen[r] = name
	}
	if x.SocketGroup != "" && !sshUserRE.MatchString(x.SocketGroup) {
		d.errorf(p.key("socket_group"), "%q is not a group name or gid", x.SocketGroup)
	}
}
