package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults for keys left out of the file.
const (
	defaultListen       = "127.0.0.1:2222"
	defaultDataDir      = "slipway-data"
	defaultLogFormat    = "auto"
	defaultLogLevel     = "info"
	defaultKeepReleases = 5
	defaultParallelism  = 10
	defaultTimeout      = Duration(10 * time.Second)
	defaultRetries      = 3
	defaultInterval     = Duration(time.Second)
	defaultMaxPushSize  = Size(1 << 30)
	// defaultMaxReleaseSize is twice the default pack limit: a push of
	// incompressible assets as large as max_push_size allows still fits,
	// and real source trees are far smaller (the Go source tree is 137
	// MB), while what one deploy writes to the staging directory and to
	// every host's disk stays bounded.
	defaultMaxReleaseSize = Size(2 << 30)
)

func defaultWaves() []string { return []string{"1", "50%", "100%"} }

// Load reads the config file at path and parses it with Parse. A file that
// cannot be read is reported as an *Error naming it, wrapping the cause, so
// errors.Is(err, fs.ErrNotExist) tells a missing file apart.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read the config file: " + pathErrorCause(err), Err: err}
	}
	return Parse(data, path)
}

// Parse decodes a config file, applies defaults, makes relative paths
// absolute (against the directory of file, or the working directory when
// file is ""), reads and parses the users' keys, and validates the result.
// file names the source in errors and sets Config.File.
//
// A TOML syntax error is returned as an *Error. Any other problem is
// returned as Errors, holding every problem found in file order, each with
// its line and key. Unknown keys are problems too.
func Parse(data []byte, file string) (*Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		e := &Error{File: file, Msg: "invalid TOML: " + err.Error(), Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			e.Line = pe.Position.Line
			e.Msg = "invalid TOML: " + pe.Message
		}
		return nil, e
	}
	base, err := baseDir(file)
	if err != nil {
		return nil, &Error{File: file, Msg: "cannot find the config file's directory: " + err.Error(), Err: err}
	}
	d := newDecoder(file, locate(string(data)))
	c := d.config(raw)
	c.File = file
	d.finish(c, base)
	if len(d.errs) > 0 {
		return nil, d.sorted()
	}
	return c, nil
}

func baseDir(file string) (string, error) {
	if file == "" {
		return os.Getwd()
	}
	return filepath.Abs(filepath.Dir(file))
}

// pathErrorCause drops the operation and path from a *fs.PathError, for
// messages that name the file already.
func pathErrorCause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// decoder turns the generic tree that toml decodes into a Config, and
// collects every problem with its position.
type decoder struct {
	file  string
	lines map[string]int // key → line, from locate
	errs  Errors
	// bad holds the keys whose values had the wrong type. Problems found
	// later under them would only repeat the first one, so they are dropped.
	bad map[string]bool
}

func newDecoder(file string, lines map[string]int) *decoder {
	return &decoder{file: file, lines: lines, bad: map[string]bool{}}
}

// line returns the line of p, or of its nearest ancestor that is in the
// file (a missing key is reported at its table), or 0.
func (d *decoder) line(p keyPath) int {
	for q := p; len(q) > 0; q = q[:len(q)-1] {
		if n, ok := d.lines[q.String()]; ok {
			return n
		}
	}
	return 0
}

func (d *decoder) errorf(p keyPath, format string, args ...any) {
	for q := p; len(q) > 0; q = q[:len(q)-1] {
		if d.bad[q.String()] {
			return
		}
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: d.line(p), Key: p.String(), Msg: fmt.Sprintf(format, args...)})
}

// badUnder reports whether p or a key under it had a value of the wrong
// type, for checks such as "at least one" that would only repeat it.
func (d *decoder) badUnder(p keyPath) bool {
	k := p.String()
	for b := range d.bad {
		if b == k || strings.HasPrefix(b, k+".") || strings.HasPrefix(b, k+"[") {
			return true
		}
	}
	return false
}

func (d *decoder) typeError(p keyPath, want string, v any) {
	d.errorf(p, "must be %s (got %s)", want, describe(v))
	d.bad[p.String()] = true
}

// sorted returns the problems in file order; those without a line come last.
func (d *decoder) sorted() Errors {
	es := append(Errors(nil), d.errs...)
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
	return es
}

// ordered returns the names of the tables under p in file order.
func (d *decoder) ordered(p keyPath, names []string) []string {
	sort.Slice(names, func(i, j int) bool {
		li, lj := d.line(p.key(names[i])), d.line(p.key(names[j]))
		if li != lj {
			return li < lj
		}
		return names[i] < names[j]
	})
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// describe names a decoded TOML value's type, with the value when short.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return fmt.Sprintf("the string %q", v)
	case int64:
		return fmt.Sprintf("the integer %d", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}

// table is one TOML table being decoded. It remembers which keys were
// asked for, so that the rest can be reported as unknown.
type table struct {
	d     *decoder
	path  keyPath
	m     map[string]any
	known []string
}

func (d *decoder) table(p keyPath, v any) (*table, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.typeError(p, "a table", v)
		return nil, false
	}
	return &table{d: d, path: p, m: m}, true
}

// tables decodes a table whose keys are names of tables, such as [hosts].
func (d *decoder) tables(p keyPath, v any) map[string]*table {
	t, ok := d.table(p, v)
	if !ok {
		return nil
	}
	ts := make(map[string]*table, len(t.m))
	for name, sub := range t.m {
		if st, ok := d.table(p.key(name), sub); ok {
			ts[name] = st
		}
	}
	return ts
}

// tableArray decodes an array of tables such as [[users]]. An entry that is
// not a table is reported and left nil, so that indexes stay aligned with
// the file.
func (d *decoder) tableArray(p keyPath, v any, header string) []*table {
	var ts []*table
	switch a := v.(type) {
	case []map[string]any:
		for i, m := range a {
			ts = append(ts, &table{d: d, path: p.index(i), m: m})
		}
	case []any:
		for i, e := range a {
			t, _ := d.table(p.index(i), e)
			ts = append(ts, t)
		}
	default:
		d.typeError(p, "an array of tables, written "+header, v)
	}
	return ts
}

func (t *table) get(name string) (any, keyPath, bool) {
	t.known = append(t.known, name)
	v, ok := t.m[name]
	return v, t.path.key(name), ok
}

// sub reads the table name, when present, with read, then reports its
// unknown keys.
func (t *table) sub(name string, read func(*table)) {
	v, p, ok := t.get(name)
	if !ok {
		return
	}
	if st, ok := t.d.table(p, v); ok {
		read(st)
		st.finish(nil)
	}
}

func (t *table) str(name string, dst *string) {
	v, p, ok := t.get(name)
	if !ok {
		return
	}
	s, ok := v.(string)
	if !ok {
		t.d.typeError(p, "a string", v)
		return
	}
	*dst = s
}

func (t *table) boolean(name string, dst *bool) {
	v, p, ok := t.get(name)
	if !ok {
		return
	}
	b, ok := v.(bool)
	if !ok {
		t.d.typeError(p, "true or false", v)
		return
	}
	*dst = b
}

func (t *table) integer(name string, dst *int) {
	v, p, ok := t.get(name)
	if !ok {
		return
	}
	n, ok := v.(int64)
	if !ok || n < math.MinInt || n > math.MaxInt {
		t.d.typeError(p, "an integer", v)
		return
	}
	*dst = int(n)
}

// size reads a number of bytes, or a string with a unit (see ParseSize).
func (t *table) size(name string, dst *Size) {
	v, p, ok := t.get(name)
	if !ok {
		return
	}
	switch x := v.(type) {
	case int64:
		*dst = Size(x)
	case string:
		if sz, err := ParseSize(x); err != nil {
			t.d.errorf(p, "%v", err)
		} else {
			*dst = sz
		}
	default:
		t.d.typeError(p, `a size such as "512MiB"`, v)
	}
}

func (t *table) stringList(name string, dst *[]string) {
	v, p, ok := t.get(name)
	if !ok {
		return
	}
	a, ok := v.([]any)
	if !ok {
		t.d.typeError(p, "an array of strings", v)
		return
	}
	ss := make([]string, 0, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			t.d.typeError(p.index(i), "a string", e)
			continue
		}
		ss = append(ss, s)
	}
	*dst = ss
}

func (t *table) duration(name string, dst *Duration) {
	v, p, ok := t.get(name)
	if !ok {
		return
	}
	s, ok := v.(string)
	if !ok {
		t.d.typeError(p, `a duration such as "10s" or "1m30s"`, v)
		return
	}
	if err := dst.UnmarshalText([]byte(s)); err != nil {
		t.d.errorf(p, "%v", err)
		t.d.bad[p.String()] = true
	}
}

// finish reports the keys of t that no one asked for. hint, when not nil,
// may explain a key that is not a typo of a known one.
func (t *table) finish(hint func(name string, v any) string) {
	for _, name := range sortedKeys(t.m) {
		if slices.Contains(t.known, name) {
			continue
		}
		msg := fmt.Sprintf("unknown key %q", name)
		if hint != nil {
			if h := hint(name, t.m[name]); h != "" {
				t.d.errorf(t.path.key(name), "%s; %s", msg, h)
				continue
			}
		}
		if s := closest(name, t.known); s != "" {
			t.d.errorf(t.path.key(name), "%s; did you mean %q?", msg, s)
		} else {
			t.d.errorf(t.path.key(name), "%s; allowed keys here are %s", msg, strings.Join(t.known, ", "))
		}
	}
}

// closest returns the candidate within a small edit distance of s, or "".
func closest(s string, candidates []string) string {
	best, bestDist := "", 3
	if len(s) <= 4 {
		bestDist = 2
	}
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// config decodes the whole file, with defaults for the keys left out.
func (d *decoder) config(raw map[string]any) *Config {
	c := &Config{
		Listen:    defaultListen,
		DataDir:   defaultDataDir,
		LogFormat: defaultLogFormat,
		LogLevel:  defaultLogLevel,
		Hosts:     map[string]*Host{},
		Apps:      map[string]*App{},
	}
	t := &table{d: d, m: raw}
	t.str("listen", &c.Listen)
	t.str("data_dir", &c.DataDir)
	t.str("log_format", &c.LogFormat)
	t.str("log_level", &c.LogLevel)
	c.MaxPushSize, c.MaxReleaseSize, c.MaxConnections = defaultMaxPushSize, defaultMaxReleaseSize, 64
	t.size("max_push_size", &c.MaxPushSize)
	t.size("max_release_size", &c.MaxReleaseSize)
	t.integer("max_connections", &c.MaxConnections)
	c.SSH.ConnectTimeout = Duration(10 * time.Second)
	t.sub("ssh", func(st *table) {
		st.str("key", &c.SSH.Key)
		st.str("config", &c.SSH.Config)
		st.str("known_hosts", &c.SSH.KnownHosts)
		st.duration("connect_timeout", &c.SSH.ConnectTimeout)
		st.integer("bwlimit", &c.SSH.BWLimit)
	})
	t.sub("http", func(st *table) { d.httpTable(st, &c.HTTP) })
	if v, p, ok := t.get("users"); ok {
		for _, ut := range d.tableArray(p, v, "[[users]]") {
			u := &User{}
			c.Users = append(c.Users, u)
			if ut != nil {
				ut.str("name", &u.Name)
				ut.stringList("keys", &u.Keys)
				ut.str("keys_file", &u.KeysFile)
				u.Role = RoleDeployer
				ut.str("role", &u.Role)
				ut.boolean("artifact_only", &u.ArtifactOnly)
				ut.finish(nil)
			}
		}
	}
	if v, p, ok := t.get("notify"); ok {
		d.notify(c, v, p)
	}
	if v, p, ok := t.get("hosts"); ok {
		for name, ht := range d.tables(p, v) {
			h := &Host{Name: name, Address: name}
			ht.str("address", &h.Address)
			ht.str("user", &h.User)
			ht.str("path", &h.Path)
			ht.finish(nil)
			c.Hosts[name] = h
		}
	}
	if v, p, ok := t.get("apps"); ok {
		for name, at := range d.tables(p, v) {
			c.Apps[name] = d.app(name, at)
		}
	}
	t.sub("external", func(et *table) {
		c.External = &External{}
		et.str("identity", &c.External.Identity)
		et.stringList("os_users", &c.External.OSUsers)
		et.str("socket", &c.External.Socket)
		et.str("socket_group", &c.External.SocketGroup)
	})
	t.finish(nil)
	return c
}

func (d *decoder) app(name string, t *table) *App {
	a := &App{Name: name, KeepReleases: defaultKeepReleases, Environments: map[string]*Environment{}}
	t.integer("keep_releases", &a.KeepReleases)
	t.str("repository", &a.Repository)
	if v, p, ok := t.get("environments"); ok {
		for envName, et := range d.tables(p, v) {
			a.Environments[envName] = d.environment(name, envName, et)
		}
	}
	t.finish(func(key string, v any) string {
		if _, isTable := v.(map[string]any); isTable {
			return "an environment is declared as [" + t.path.key("environments").key(key).String() + "]"
		}
		return ""
	})
	return a
}

func (d *decoder) environment(app, name string, t *table) *Environment {
	e := &Environment{
		Name:        name,
		App:         app,
		Branch:      name,
		Hosts:       []string{LocalHost},
		Waves:       defaultWaves(),
		Parallelism: defaultParallelism,
	}
	t.str("branch", &e.Branch)
	t.stringList("hosts", &e.Hosts)
	t.str("path", &e.Path)
	t.stringList("waves", &e.Waves)
	t.stringList("deployers", &e.Deployers)
	e.ApprovalTimeout = Duration(24 * time.Hour)
	if v, p, ok := t.get("approval"); ok {
		if b, ok := v.(bool); ok {
			e.Approval = b
		} else {
			d.typeError(p, "true or false", v)
		}
	}
	t.stringList("approvers", &e.Approvers)
	t.duration("approval_timeout", &e.ApprovalTimeout)
	t.integer("parallelism", &e.Parallelism)
	t.str("subdir", &e.Subdir)
	t.str("logs", &e.Logs)
	t.str("logs_follow", &e.LogsFollow)
	t.sub("health", func(ht *table) {
		h := &Health{Timeout: defaultTimeout, Retries: defaultRetries, Interval: defaultInterval}
		ht.str("command", &h.Command)
		ht.duration("timeout", &h.Timeout)
		ht.integer("retries", &h.Retries)
		ht.duration("interval", &h.Interval)
		ht.str("url", &h.URL)
		ht.integer("expect", &h.Expect)
		ht.str("body", &h.Body)
		ht.duration("watch", &h.Watch)
		if h.Expect == 0 {
			h.Expect = 200
		}
		e.Health = h
	})
	e.Hooks.Timeout = Duration(10 * time.Minute)
	t.sub("hooks", func(ht *table) {
		ht.str("build", &e.Hooks.Build)
		ht.str("before_switch", &e.Hooks.BeforeSwitch)
		ht.str("migrate", &e.Hooks.Migrate)
		ht.str("after_switch", &e.Hooks.AfterSwitch)
		ht.str("after_deploy", &e.Hooks.AfterDeploy)
		ht.duration("timeout", &e.Hooks.Timeout)
	})
	t.sub("shared", func(st *table) {
		st.stringList("dirs", &e.Shared.Dirs)
		st.stringList("files", &e.Shared.Files)
		st.str("secrets_file", &e.Shared.SecretsFile)
	})
	if v, p, ok := t.get("env"); ok {
		if et, ok := d.table(p, v); ok {
			e.Env = map[string]string{}
			for k, val := range et.m {
				str, ok := val.(string)
				if !ok {
					d.typeError(p.key(k), "a string", val)
					continue
				}
				e.Env[k] = str
			}
		}
	}
	t.finish(nil)
	return e
}
