//go:build unix

package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/slipwayhq/slipway/internal/sshrig"
	"golang.org/x/crypto/ssh"
)

// mainPackage is the program the scripts run as `slipway`.
const mainPackage = "github.com/slipwayhq/slipway/cmd/slipway"

// minGit is the oldest git whose receive-pack supports proc-receive hooks.
var minGit = [2]int{2, 29}

// slipwayBin is the absolute path of the binary TestMain built; the serve
// command runs it directly so a script that changes PATH still tests it.
var slipwayBin string

// keyOwners are the people every script can act as: alice is the one the
// scripts' configurations usually allow, bob a second user with other rights,
// mallory someone who must be refused.
var keyOwners = []string{"alice", "bob", "mallory"}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// A surrounding git (a hook running the tests, for example) exports
	// GIT_DIR, GIT_INDEX_FILE and the like; they would point every git in
	// the build and in the scripts at that repository.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "GIT_") {
			os.Unsetenv(name)
		}
	}

	dir, err := os.MkdirTemp("", "slipway-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	// The race detector is on so that the daemon and the hook processes the
	// scripts start are checked too, not only this test binary.
	bin := filepath.Join(dir, "slipway")
	build := exec.Command("go", "build", "-race", "-o", bin, mainPackage)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build -race -o %s %s: %v\n%s", bin, mainPackage, err, out)
		return 1
	}
	slipwayBin = bin

	// The sample app the lifecycle scripts deploy and restart.
	hello := exec.Command("go", "build", "-o", filepath.Join(dir, "hello"), "github.com/slipwayhq/slipway/testdata/apps/hello")
	if out, err := hello.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build the sample app: %v\n%s", err, out)
		return 1
	}

	// Scripts find slipway first on PATH, and sshd even where /usr/sbin is
	// not on an ordinary user's PATH.
	path := dir + string(os.PathListSeparator) + os.Getenv("PATH")
	if _, err := exec.LookPath("sshd"); err != nil {
		if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
			path += string(os.PathListSeparator) + "/usr/sbin"
		}
	}
	os.Setenv("PATH", path)

	return m.Run()
}

func TestScripts(t *testing.T) {
	if reason := missingPrograms(); reason != "" {
		t.Skip(reason + " (scripts/deps.sh installs what is missing)")
	}
	deadline, _ := t.Deadline()
	testscript.Run(t, testscript.Params{
		Dir: "../../testdata/script",
		Setup: func(e *testscript.Env) error {
			return setupScript(e, deadline)
		},
		Cmds:               scriptCommands,
		Condition:          scriptCondition,
		RequireUniqueNames: true,
		// TESTSCRIPT_UPDATE=1 rewrites the golden transcripts (the second
		// file of a failing cmp) from the run.
		UpdateScripts: os.Getenv("TESTSCRIPT_UPDATE") != "",
	})
}

// missingPrograms says which of the programs the scripts drive are absent or
// too old, or returns "" when all are usable.
func missingPrograms() string {
	var missing []string
	for _, name := range []string{"git", "ssh", "sshd", "rsync"} {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "end-to-end scripts need " + strings.Join(missing, ", ") + " (not found in PATH or /usr/sbin)"
	}
	out, err := exec.Command("git", "version").Output()
	if err != nil {
		return fmt.Sprintf("git version: %v", err)
	}
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		return fmt.Sprintf("cannot tell the git version from %q", strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < minGit[0] || major == minGit[0] && minor < minGit[1] {
		return fmt.Sprintf("end-to-end scripts need git >= %d.%d for proc-receive hooks, found %s",
			minGit[0], minGit[1], strings.TrimSpace(string(out)))
	}
	return ""
}

// scriptCondition adds [root] to the conditions testscript knows, for
// scripts that need privileges (network namespaces, small filesystems).
func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "root":
		return os.Geteuid() == 0, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

const gitconfig = `[user]
	name = Alice Example
	email = alice@example.com
[init]
	defaultBranch = main
[advice]
	detachedHead = false
[core]
	pager = cat
`

// sshConfig is written to $HOME/.ssh/config. OpenSSH finds the home
// directory through the password database, not $HOME, so every ssh command
// a script runs names this file with -F.
const sshConfig = `Host *
	User git
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
	ConnectTimeout 10
	ServerAliveInterval 5
`

// setupScript gives each script its own home with a git identity, keys and
// ssh configuration for alice, bob and mallory, a free port for the server
// and the environment that points git at it.
func setupScript(e *testscript.Env, deadline time.Time) error {
	home := filepath.Join(e.WorkDir, "home")
	sshDir := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		return err
	}
	configPath := filepath.Join(sshDir, "config")
	if err := os.WriteFile(configPath, []byte(sshConfig), 0o600); err != nil {
		return err
	}
	for _, owner := range keyOwners {
		pub, err := writeKeyPair(sshDir, owner)
		if err != nil {
			return err
		}
		upper := strings.ToUpper(owner)
		e.Setenv(upper+"_PUB", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))+" "+owner)
		e.Setenv(upper+"_FP", ssh.FingerprintSHA256(pub))
		e.Setenv("SSH_"+upper, "ssh -F "+configPath+" -i "+filepath.Join(sshDir, owner))
	}
	port, err := freePort()
	if err != nil {
		return err
	}

	e.Setenv("HOME", home)
	e.Setenv("PORT", strconv.Itoa(port))
	e.Setenv("HELLO_BIN", filepath.Join(filepath.Dir(slipwayBin), "hello")) // the sample app, for hosts whose PATH lacks it
	// Ports for the sample app on two hosts, and for the dashboard.
	for _, name := range []string{"APP_PORT1", "APP_PORT2", "HTTP_PORT"} {
		p, err := freePort()
		if err != nil {
			return err
		}
		e.Setenv(name, strconv.Itoa(p))
	}
	e.Setenv("REMOTE", "ssh://git@127.0.0.1:"+strconv.Itoa(port))
	e.Setenv("GIT_SSH_COMMAND", e.Getenv("SSH_ALICE"))
	e.Setenv("GIT_TERMINAL_PROMPT", "0")
	// The machine's /etc/gitconfig must not change what git does here.
	e.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	e.Setenv("SLIPWAY_DATA_DIR", filepath.Join(e.WorkDir, "data"))
	// Race reports from any slipway process (the daemon, the hooks git
	// runs, the commands a script execs) land in $WORK/race.<pid>, where
	// the end of the script finds them whoever swallowed that stderr. Each
	// race-enabled process otherwise sleeps 1s at exit, once per hook run.
	// Settings from the outer GORACE come last and win.
	e.Setenv("GORACE", strings.TrimSpace("log_path="+filepath.Join(e.WorkDir, "race")+" atexit_sleep_ms=10 "+e.Getenv("GORACE")))

	st := &scriptState{
		t:        e.T(),
		work:     e.WorkDir,
		deadline: deadline,
		bg:       make(map[string]*process),
	}
	e.Values[stateKey{}] = st
	e.Defer(st.cleanup)
	return nil
}

// writeKeyPair writes an ed25519 key pair as dir/name (OpenSSH private key
// format, 0600) and dir/name.pub, and returns the public key.
func writeKeyPair(dir, name string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		return nil, fmt.Errorf("marshal %s's key: %w", name, err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + name + "\n"
	if err := os.WriteFile(path+".pub", []byte(line), 0o644); err != nil {
		return nil, err
	}
	return sshPub, nil
}

// freePort returns a loopback TCP port for a server the script starts
// (see sshrig.FreePort).
func freePort() (int, error) { return sshrig.FreePort() }
