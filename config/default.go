package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

//go:embed example.toml
var example []byte

// Example returns a commented example configuration, as written by
// `slipway init`. It parses as is; its key is a placeholder to replace.
func Example() []byte { return append([]byte(nil), example...) }

// ExampleWithDataDir is Example with data_dir set to dir, for an
// installation whose data lives in a fixed place (/var/lib/slipway).
func ExampleWithDataDir(dir string) ([]byte, error) {
	if dir == "" || strings.ContainsAny(dir, "\"\\") || strings.IndexFunc(dir, unicode.IsControl) >= 0 {
		return nil, fmt.Errorf("data directory %q: give a path without quotes, backslashes or control characters", dir)
	}
	const line = "\ndata_dir = \"slipway-data\"\n"
	if !bytes.Contains(example, []byte(line)) {
		return nil, errors.New("the example configuration has no data_dir line")
	}
	return bytes.Replace(example, []byte(line), []byte("\ndata_dir = \""+dir+"\"\n"), 1), nil
}

// Default returns the configuration used when there is no config file: a
// newcomer pushing to this machine.
//
//   - listen on 127.0.0.1:2222, and serve the dashboard on 127.0.0.1:8080;
//   - data_dir is $SLIPWAY_DATA_DIR, else $XDG_STATE_HOME/slipway, else
//     ~/.local/state/slipway;
//   - one user, named after the OS user, owning every key found in
//     ~/.ssh/authorized_keys and ~/.ssh/*.pub (keys restricted by
//     authorized_keys options are left out: they were granted for
//     something narrower);
//   - every app gets the environments "staging" (branch "main") and
//     "production" (branch "production"), deployed on this machine under
//     <data_dir>/deploy/<app>/<environment>, without health checks.
//
// When no key is found, the *Error returned tells the user how to make one.
func Default() (*Config, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, &Error{Msg: "cannot find the home directory: " + err.Error() + "; set $HOME or write a config file", Err: err}
	}
	dataDir := defaultStateDir(home)
	keys := homeKeys(home)
	if len(keys) == 0 {
		return nil, &Error{
			Key: "users",
			Msg: "no SSH public key found in ~/.ssh/authorized_keys or ~/.ssh/*.pub: " +
				"run `ssh-keygen -t ed25519` to create one, then start Slipway again",
		}
	}

	env := func(name, branch string) *Environment {
		return &Environment{
			Name:            name,
			App:             TemplateApp,
			Branch:          branch,
			Hosts:           []string{LocalHost},
			Path:            filepath.Join("deploy", "{app}", name),
			Waves:           defaultWaves(),
			Parallelism:     defaultParallelism,
			Hooks:           Hooks{Timeout: Duration(10 * time.Minute)},
			ApprovalTimeout: Duration(24 * time.Hour),
		}
	}
	c := &Config{
		Listen:         defaultListen,
		DataDir:        dataDir,
		LogFormat:      defaultLogFormat,
		LogLevel:       defaultLogLevel,
		SSH:            SSH{ConnectTimeout: Duration(10 * time.Second)},
		HTTP:           HTTP{Listen: DefaultHTTPListen},
		MaxPushSize:    defaultMaxPushSize,
		MaxReleaseSize: defaultMaxReleaseSize,
		MaxConnections: 64,
		Users:          []*User{{Name: osUserName(), Keys: keys, Role: RoleAdmin}},
		Hosts:          map[string]*Host{},
		Apps: map[string]*App{
			TemplateApp: {
				Name:         TemplateApp,
				KeepReleases: defaultKeepReleases,
				Environments: map[string]*Environment{
					"staging":    env("staging", "main"),
					"production": env("production", "production"),
				},
			},
		},
	}
	d := newDecoder("", nil)
	d.finish(c, dataDir)
	if len(d.errs) > 0 {
		return nil, d.sorted()
	}
	return c, nil
}

// defaultStateDir follows the XDG base directory spec, which ignores
// relative values.
func defaultStateDir(home string) string {
	if dir := os.Getenv("SLIPWAY_DATA_DIR"); dir != "" {
		if abs, err := filepath.Abs(dir); err == nil {
			return abs
		}
		return dir
	}
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "slipway")
	}
	return filepath.Join(home, ".local", "state", "slipway")
}

// homeKeys returns, as authorized_keys lines without duplicate keys, those
// in ~/.ssh/authorized_keys and ~/.ssh/*.pub that Slipway can use. Lines
// that do not parse, carry options, or are certificates are skipped: this
// is a best guess, and a config file states keys exactly.
func homeKeys(home string) []string {
	sshDir := filepath.Join(home, ".ssh")
	files := []string{filepath.Join(sshDir, "authorized_keys")}
	pubs, _ := filepath.Glob(filepath.Join(sshDir, "*.pub"))
	files = append(files, pubs...)

	var keys []string
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			pk, problem := parseKey(line, true)
			if problem != "" || seen[string(pk.Marshal())] {
				continue
			}
			seen[string(pk.Marshal())] = true
			keys = append(keys, line)
		}
	}
	return keys
}

// osUserName names the default user after the OS user.
func osUserName() string {
	var candidates []string
	if u, err := user.Current(); err == nil {
		candidates = append(candidates, u.Username)
	}
	candidates = append(candidates, os.Getenv("USER"))
	for _, name := range candidates {
		if name = userNameFrom(name); name != "" {
			return name
		}
	}
	return "me"
}

// userNameFrom reduces an OS account name to a valid user name, or "".
func userNameFrom(account string) string {
	if i := strings.LastIndexAny(account, `\/`); i >= 0 {
		account = account[i+1:] // DOMAIN\user
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, account)
	name = name[:min(len(name), 64)]
	if !ValidUserName(name) {
		return ""
	}
	return name
}
