// Package openssh is the transport to remote hosts: the system ssh and
// rsync, Slipway's own key, pinned host keys, and one connection per host
// (ControlMaster) that every session of a deploy shares and that a Pool
// keeps warm between deploys.
package openssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/shell"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/lifecycle"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/transport/rsync"
)

// Options is how Slipway reaches remote hosts.
type Options struct {
	KeyFile        string        // Slipway's private key
	KnownHosts     string        // pinned host keys; unknown or changed keys fail
	ControlDir     string        // where ControlMaster sockets live; keep the path short
	ConfigFile     string        // ssh_config to use instead of ~/.ssh/config ("" for the default)
	ConnectTimeout time.Duration // default 10s
	BWLimit        int           // rsync --bwlimit in KiB/s; 0 for none
	// Procs starts every ssh and rsync, so that a restart after a crash
	// can stop them (release.ProcGroup); nil starts them as they are.
	// transport.New sets it from transport.Options.Procs.
	Procs host.Procs
	// Pool keeps connections open between deploys (needs ControlDir);
	// nil ends each host's connection when its deploy closes it.
	Pool *Pool
}

// Host is a host reached with ssh and rsync.
type Host struct {
	name string
	host string // address without the port
	port string
	user string
	path string
	opt  Options
}

var _ host.Host = (*Host)(nil)

// New returns the host h, deploying under path. With a Pool (and a
// ControlDir), its connection is one of those the pool keeps.
func New(h *config.Host, path string, opt Options) *Host {
	host, port := h.Address, ""
	if hp, p, err := net.SplitHostPort(h.Address); err == nil {
		host, port = hp, p
	}
	if host == "" {
		host = h.Name
	}
	s := &Host{name: h.Name, host: host, port: port, user: h.User, path: path, opt: opt}
	if opt.Pool != nil && opt.ControlDir != "" {
		opt.Pool.use(s)
	}
	return s
}

func (s *Host) Name() string    { return s.name }
func (s *Host) Address() string { return s.host }

// sshArgs are the options of every ssh invocation, without the destination.
func (s *Host) sshArgs() []string {
	timeout := s.opt.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	args := []string{
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=" + strconv.Itoa(max(int(timeout.Seconds()+0.999), 1)),
		"-o", "ServerAliveInterval=5",
		"-o", "ServerAliveCountMax=3",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "HashKnownHosts=no", // the pinned file stays readable for operators
	}
	if s.opt.ConfigFile != "" {
		args = append(args, "-F", s.opt.ConfigFile)
	}
	if s.opt.KnownHosts != "" {
		args = append(args, "-o", "UserKnownHostsFile="+s.opt.KnownHosts)
	}
	if s.opt.KeyFile != "" {
		args = append(args, "-i", s.opt.KeyFile)
	}
	if s.opt.ControlDir != "" {
		persist := 60
		if s.opt.Pool != nil {
			persist = max(int(s.opt.Pool.idle().Seconds()), 1)
		}
		args = append(args, "-o", "ControlMaster=auto", "-o", "ControlPath="+s.opt.ControlDir+"/%C", "-o", "ControlPersist="+strconv.Itoa(persist))
	}
	if s.port != "" {
		args = append(args, "-p", s.port)
	}
	if s.user != "" {
		args = append(args, "-l", s.user)
	}
	return args
}

// remote runs script with sh on the host, passing args as positional
// parameters: nothing is interpolated into the script itself. It returns
// the script's standard output, which must be small: Slipway's own scripts
// print a few lines.
func (s *Host) remote(ctx context.Context, script string, args ...string) ([]byte, error) {
	return s.remoteIn(ctx, nil, script, args...)
}

// remoteIn is remote with stdin as the remote script's standard input.
func (s *Host) remoteIn(ctx context.Context, stdin []byte, script string, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	err := s.stream(ctx, stdin, &stdout, script, args...)
	return stdout.Bytes(), err
}

// stream is remoteIn that copies the script's standard output to out as it
// arrives instead of keeping it; a nil out discards it. Of ssh's standard
// error, which explains a failure, only the end is kept.
func (s *Host) stream(ctx context.Context, stdin []byte, out io.Writer, script string, args ...string) error {
	line := "sh -c " + shell.Quote(script) + " sh"
	for _, a := range args {
		line += " " + shell.Quote(a)
	}
	cmd := exec.CommandContext(ctx, "ssh", append(s.sshArgs(), "--", s.host, line)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if out == nil {
		out = io.Discard
	}
	stderr := lifecycle.NewOutput(nil, nil)
	cmd.Stdout, cmd.Stderr = out, stderr
	// Over a shared connection the master writes the session's output to
	// these pipes and closes them only after the ssh client has exited;
	// with 100 sessions at once on a busy machine that took over 5 s.
	// The bound is for a remote process that keeps the pipes open.
	cmd.WaitDelay = 30 * time.Second
	err := host.RunProc(s.opt.Procs, cmd)
	stderr.Close()
	if err != nil {
		return s.explain(err, string(stderr.Tail()))
	}
	return nil
}

// explain turns the failure of an ssh session into a sentence that says
// what to do. ssh exits with 255 when it could not connect; a remote
// command that exits with 255 itself says so first (commandExited255), so
// that it is not taken for a connection failure.
func (s *Host) explain(err error, stderr string) error {
	msg := strings.TrimSpace(stderr)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 255 && !strings.Contains(msg, commandExited255) {
		return s.connectFailure(msg)
	}
	if strings.Contains(msg, "No space left on device") {
		err = host.Mark(host.ErrNoSpace, err)
	}
	if msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, textclean.LastLine(msg))
}

// commandExited255 is what Run and Attach print on standard error when the
// remote command itself exits with 255, ssh's own status for a failure to
// connect.
const commandExited255 = "slipway: the command exited with status 255"

// explainRsync is explain for an upload: rsync reports ssh's failure with
// a status of its own (12, mostly, or 255), but ssh's message is in its
// standard error.
func (s *Host) explainRsync(re *rsync.Error) error {
	msg := strings.TrimSpace(re.Stderr)
	var ee *exec.ExitError
	if errors.As(re.Err, &ee) && ee.ExitCode() == 255 || strings.HasPrefix(msg, "ssh: ") || strings.Contains(msg, "\nssh: ") ||
		strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
		strings.Contains(msg, "Host key verification failed") || loginRefused.MatchString(msg) {
		return s.connectFailure(msg)
	}
	return re
}

// loginRefused is ssh's "Permission denied (publickey,password)." with
// the methods it tried, unlike a file the remote rsync may not write:
// "Permission denied (13)".
var loginRefused = regexp.MustCompile(`Permission denied \([a-z-]+(,[a-z-]+)*\)`)

// connectFailure is the sentence for ssh's failure to connect, marked with
// its kind (host.ErrHostKeyChanged, ...), from what ssh printed.
func (s *Host) connectFailure(msg string) error {
	switch {
	case strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED"):
		return host.Mark(host.ErrHostKeyChanged, fmt.Errorf("the SSH host key of %s changed since it was trusted: if the host was reinstalled, run `slipway trust --replace %s`; otherwise treat it as an attack", s.name, s.name))
	case strings.Contains(msg, "Host key verification failed"), strings.Contains(msg, "host key is known"):
		return host.Mark(host.ErrHostKeyUnknown, fmt.Errorf("the SSH host key of %s is not trusted yet: run `slipway trust %s` once (ssh: %s)", s.name, s.name, textclean.FirstLine(msg)))
	case loginRefused.MatchString(msg):
		return host.Mark(host.ErrLoginRefused, fmt.Errorf("%s refused Slipway's SSH key: add the line `slipway pubkey` prints to the deploy user's ~/.ssh/authorized_keys there", s.name))
	case msg == "":
		return host.Mark(host.ErrUnreachable, fmt.Errorf("cannot reach %s: ssh exited with status 255", s.name))
	default:
		return host.Mark(host.ErrUnreachable, fmt.Errorf("cannot reach %s: %s", s.name, sshCause(msg)))
	}
}

// sshCause is the line of ssh's standard error that says why it could not
// connect: its own "ssh: ..." line (rsync adds its summary after it), or
// the last one.
func sshCause(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "ssh: ") {
			return strings.TrimSpace(line)
		}
	}
	return textclean.LastLine(stderr)
}

// openScript prints current's target and the release directories, after
// sweeping what interrupted removals left. $1 is the deploy path.
const openScript = `cd "$1" 2>/dev/null || exit 0
if [ -L current ]; then echo "current=$(readlink current)"; elif [ -e current ]; then echo "$1/current is not a symlink" >&2; exit 3; fi
cd releases 2>/dev/null || exit 0
for d in .v*.removing; do [ -e "$d" ] && rm -rf "$d"; done
for r in v*; do [ -d "$r" ] && echo "release=$r"; done
exit 0`

func (s *Host) Open(ctx context.Context) (host.Info, error) {
	out, err := s.remote(ctx, openScript, s.path)
	if err != nil {
		return host.Info{}, fmt.Errorf("read current: %w", err)
	}
	var info host.Info
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "current":
			if info.Current, err = host.ReleaseFromTarget(v); err != nil {
				return host.Info{}, err
			}
		case "release":
			if _, ok := host.ParseRelease(v); ok {
				info.Releases = append(info.Releases, v)
			}
		}
	}
	host.SortReleases(info.Releases)
	return info, nil
}

// uploadWrapper runs on the host in place of rsync, in the session of the
// transfer itself: it prepares releases/.$2.partial (refusing a release
// that exists, adopting what an interrupted upload left), runs the rsync
// server with the arguments rsync appends, and renames the finished
// upload into place. $1 is the deploy path, $2 the release. Nothing may
// reach standard output but rsync's protocol; its own messages start with
// "slipway: " so that rsync.Cause picks them.
//
// With $3, the release to start from, the upload is proportional: the
// partial directory is a hard-link copy of releases/$3 and rsync is sent
// only the changed paths. The wrapper refuses it (see rsync.NotProportional),
// before rsync starts, when it finds an interrupted upload or no $3.
const uploadWrapper = `r="$1/releases" rel="$2" base="$3"
shift 3
mkdir -p "$r" 2>/dev/null || { echo "slipway: cannot create $r" >&2; exit 1; }
if [ -e "$r/$rel" ]; then echo "slipway: releases/$rel already exists" >&2; exit 3; fi
if [ -n "$base" ]; then
	for d in "$r"/.v*.partial; do
		[ -e "$d" ] && { echo "slipway: ` + rsync.NotProportional + `an interrupted upload is there" >&2; exit 5; }
	done
	[ -d "$r/$base" ] && [ ! -L "$r/$base" ] || { echo "slipway: ` + rsync.NotProportional + `releases/$base is not there" >&2; exit 5; }
	cp -al -- "$r/$base" "$r/.$rel.partial" || { rm -rf "$r/.$rel.partial"; echo "slipway: ` + rsync.NotProportional + `cannot link releases/$base" >&2; exit 5; }
fi
for d in "$r"/.v*.partial; do
	[ -d "$d" ] || continue
	[ "$d" = "$r/.$rel.partial" ] || mv "$d" "$r/.$rel.partial" 2>/dev/null || { echo "slipway: cannot reuse the interrupted upload $d" >&2; exit 1; }
	break
done
rsync "$@" || exit $?
mv "$r/.$rel.partial" "$r/$rel" || { echo "slipway: cannot move the upload into place" >&2; exit 1; }`

func (s *Host) Upload(ctx context.Context, src, rel, linkDest string, changed []string) (host.UploadStats, error) {
	if err := host.CheckUpload(rel, linkDest, changed); err != nil {
		return host.UploadStats{}, err
	}
	if changed != nil {
		st, err := s.upload(ctx, src, rel, linkDest, changed)
		if !errors.Is(err, rsync.ErrNotProportional) {
			return st, err
		}
	}
	return s.upload(ctx, src, rel, linkDest, nil)
}

// upload is one rsync session: proportional from linkDest with changed
// not nil, a full compare otherwise.
func (s *Host) upload(ctx context.Context, src, rel, linkDest string, changed []string) (host.UploadStats, error) {
	dest := rsyncHost(s.host) + ":" + s.path + "/releases/." + rel + ".partial/"
	if s.user != "" {
		dest = s.user + "@" + dest
	}
	rsh := "ssh"
	for _, a := range s.sshArgs() {
		rsh += " " + shell.Quote(a)
	}
	args, base := rsync.Args(linkDest), ""
	if changed != nil {
		args, base = rsync.ProportionalArgs(), linkDest
	}
	if s.opt.BWLimit > 0 {
		args = append(args, "--bwlimit="+strconv.Itoa(s.opt.BWLimit))
	}
	// The remote shell reads --rsync-path as a command line, to which
	// rsync appends its own (quoted) arguments.
	wrapper := "sh -c " + shell.Quote(uploadWrapper) + " sh " + shell.Quote(s.path) + " " + shell.Quote(rel) + " " + shell.Quote(base)
	args = append(args, "--rsync-path="+wrapper, "-e", rsh, strings.TrimSuffix(src, "/")+"/", dest)
	out, err := rsync.Run(ctx, s.opt.Procs, args, changed)
	if err != nil {
		// When ssh could not connect, what it printed says why.
		var re *rsync.Error
		if errors.As(err, &re) && !errors.Is(err, rsync.ErrNotProportional) && !errors.Is(err, host.ErrNoSpace) {
			return host.UploadStats{}, s.explainRsync(re)
		}
		return host.UploadStats{}, err
	}
	st := rsync.ParseStats(out)
	st.From = base
	return st, nil
}

// switchScript points current at releases/$2 (or removes it for "") and
// prunes beyond $3 releases, never $2 nor the previous one. It prints
// previous=, removed= and release= lines. $1 is the deploy path, $4 a
// random suffix for the temporary link. Pruned releases are renamed at
// once and deleted in the background, so the session ends when the
// switch is done; Open sweeps what an interrupted deletion left.
const switchScript = `cd "$1" || exit 1
rel="$2" keep="$3" tmp="current.tmp-$4"
prev=
if [ -L current ]; then
	prev=$(readlink current) || exit 1
elif [ -e current ]; then
	echo "$1/current is not a symlink" >&2; exit 3
fi
case "$prev" in
"") ;;
releases/v*) ;;
*) echo "current points to $prev, not to a Slipway release" >&2; exit 3 ;;
esac
if [ -z "$rel" ]; then
	rm -f current || exit 1
else
	if [ ! -d "releases/$rel" ]; then echo "releases/$rel is not on the host" >&2; exit 4; fi
	ln -s "releases/$rel" "$tmp" && mv -T "$tmp" current || { rm -f "$tmp"; exit 1; }
fi
echo "previous=$prev"
cd releases 2>/dev/null || exit 0
set --
for r in v*; do
	n=${r#v}
	case "$n" in "" | 0* | *[!0-9]*) continue ;; esac
	[ ${#n} -le 9 ] && [ -d "$r" ] && set -- "$@" "$n"
done
extra=$(($# - keep))
doomed=
[ $# -gt 0 ] || exit 0
for num in $(printf '%s\n' "$@" | sort -n); do
	r="v$num"
	if [ "$keep" -gt 0 ] && [ "$extra" -gt 0 ] && [ "$r" != "$rel" ] && [ "releases/$r" != "$prev" ]; then
		if mv "$r" ".$r.removing"; then
			echo "removed=$r"; doomed="$doomed .$r.removing"; extra=$((extra - 1)); continue
		fi
	fi
	echo "release=$r"
done
[ -n "$doomed" ] && (rm -rf $doomed </dev/null >/dev/null 2>&1 &)
exit 0`

func (s *Host) Switch(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
	if rel != "" {
		if err := host.CheckName(rel); err != nil {
			return host.SwitchResult{}, err
		}
	}
	out, err := s.remote(ctx, switchScript, s.path, rel, strconv.Itoa(max(keep, 0)), randomID())
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 4 {
			return host.SwitchResult{}, fmt.Errorf("releases/%s: %w", rel, host.ErrNotOnHost)
		}
		return host.SwitchResult{}, err
	}
	var res host.SwitchResult
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "previous":
			if v != "" {
				// The switch is done; a target Slipway did not write
				// counts as none to go back to.
				res.Previous, _ = host.ReleaseFromTarget(v)
			}
		case "removed", "release":
			if _, ok := host.ParseRelease(v); !ok {
				continue
			}
			if k == "removed" {
				res.Removed = append(res.Removed, v)
			} else {
				res.Releases = append(res.Releases, v)
			}
		}
	}
	return res, nil
}

func (s *Host) Run(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	dir := s.path
	if rel != "" {
		dir += "/releases/" + rel
	}
	// The remote side enforces the timeout too: killing the local ssh
	// does not reliably stop a command on a host without a terminal.
	timeout := "3600"
	if dl, ok := ctx.Deadline(); ok {
		timeout = strconv.Itoa(max(int(time.Until(dl).Seconds()+0.999), 1))
	}
	// The environment (secrets included) travels on stdin, never on a
	// command line that ps would show on either machine.
	// out never fails (a pusher who went away must not stop the hook).
	return s.stream(ctx, []byte(exportLines(env)), lifecycle.QuietWriter(out), `cd "$1" || exit 1
eval "$(cat)"
timeout -k 5 "$2" sh -c "$3" 2>&1 </dev/null
rc=$?
[ "$rc" -ne 255 ] || echo "`+commandExited255+`" >&2
exit "$rc"`, dir, timeout, command)
}

// exportLines are the export statements that give a remote command env,
// one quoted value each; variables with names sh cannot take are left out.
func exportLines(env []string) string {
	var exports strings.Builder
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(k) {
			continue
		}
		fmt.Fprintf(&exports, "export %s=%s\n", k, shell.Quote(v))
	}
	return exports.String()
}

// attachScript runs "$3" in its own session on the host and stops that
// session's process group once its standard input reaches end of file,
// which happens when Slipway closes it or when the connection dies: without
// a terminal, sshd sends no signal to a remote command when the client
// goes, and a command that only waits (tail -f) would never notice.
//
// Standard input first carries the export lines, ended by the line "$4"
// (random, so no value can end them early). A background job's standard
// input is /dev/null unless given explicitly, hence fd 3.
const attachScript = `cd "$1" || exit 1
vars=
ended=
while IFS= read -r line; do
	if [ "$line" = "$4" ]; then ended=1; break; fi
	vars="$vars$line
"
done
[ -n "$ended" ] || exit 1
eval "$vars"
exec 3<&0
setsid timeout -k 5 "$2" sh -c "$3" 2>&1 </dev/null &
pid=$!
setsid sh -c 'cat >/dev/null; kill -s TERM -- -"$1" 2>/dev/null; sleep 2; kill -s KILL -- -"$1" 2>/dev/null' sh "$pid" <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$pid"
rc=$?
[ "$rc" -ne 255 ] || echo "` + commandExited255 + `" >&2
kill -s KILL -- -"$watcher" 2>/dev/null
exit "$rc"`

// attachLimit bounds a command Attach runs when ctx has no deadline: the
// host stops it then even if it never learns that Slipway has gone.
const attachLimit = 24 * time.Hour

// Attach runs command with attachScript. When ctx ends, the standard input
// of the remote shell is closed, so the host stops the command's process
// group; ssh itself is killed 5 seconds later if it has not exited by then.
func (s *Host) Attach(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	dir := s.path
	if rel != "" {
		dir += "/releases/" + rel
	}
	limit := attachLimit
	if dl, ok := ctx.Deadline(); ok {
		limit = time.Until(dl)
	}
	timeout := strconv.Itoa(max(int(limit.Seconds()+0.999), 1))
	end := "slipway-end-" + randomID()
	line := "sh -c " + shell.Quote(attachScript) + " sh"
	for _, a := range []string{dir, timeout, command, end} {
		line += " " + shell.Quote(a)
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer stdinR.Close()
	// The command is not started under ctx: ending ctx closes standard
	// input instead of killing ssh, so the host hears of it.
	cmd := exec.Command("ssh", append(s.sshArgs(), "--", s.host, line)...)
	cmd.Stdin = stdinR
	stderr := lifecycle.NewOutput(nil, nil)
	cmd.Stdout, cmd.Stderr = lifecycle.QuietWriter(out), stderr
	if err := host.StartProc(s.opt.Procs, cmd); err != nil {
		stdinW.Close()
		return fmt.Errorf("attach: start ssh: %w", err)
	}
	stdinR.Close()
	exited := make(chan struct{})
	go func() {
		// The variables may not fit in the pipe: write them while ssh reads.
		io.WriteString(stdinW, exportLines(env)+end+"\n")
		select {
		case <-ctx.Done():
		case <-exited:
		}
		stdinW.Close()
		select {
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		case <-exited:
		}
	}()
	err = cmd.Wait()
	close(exited)
	stderr.Close()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return s.explain(err, string(stderr.Tail()))
	}
	return nil
}

func (s *Host) WriteShared(ctx context.Context, name string, data []byte) error {
	_, err := s.remoteIn(ctx, data, `set -e
umask 077
f="$1/shared/$2"
mkdir -p "$(dirname "$f")"
cat > "$f.slipway-tmp"
mv "$f.slipway-tmp" "$f"`, s.path, name)
	return err
}

func (s *Host) Remove(ctx context.Context, rel string) error {
	if err := host.CheckName(rel); err != nil {
		return err
	}
	_, err := s.remote(ctx, `cd "$1/releases" 2>/dev/null || exit 0
if [ "$(readlink ../current)" = "releases/$2" ]; then echo "$2 is live; refusing to remove it" >&2; exit 3; fi
[ -e "$2" ] || exit 0
mv "$2" ".$2.removing" && rm -rf ".$2.removing"`, s.path, rel)
	return err
}

// Close ends the shared connection, unless a Pool keeps it warm for the
// next deploy.
func (s *Host) Close() error {
	if s.opt.Pool == nil {
		// "stop", not "exit": the master serves other deploys to the
		// same host too; it ends once their sessions have.
		s.control("stop")
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Trust records the host's SSH key in the pinned known_hosts on first
// contact. With replace, a key recorded before is forgotten first (the
// host was reinstalled).
func (s *Host) Trust(ctx context.Context, replace bool) error {
	name := s.knownName()
	if replace && s.opt.KnownHosts != "" {
		cmd := exec.CommandContext(ctx, "ssh-keygen", "-R", name, "-f", s.opt.KnownHosts)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		cmd.Run() // nothing recorded yet is fine
	}
	// Never through a master the daemon keeps warm: that connection was
	// verified against the key being replaced.
	direct := *s
	direct.opt.ControlDir = ""
	args := direct.sshArgs()
	for i, a := range args {
		if a == "StrictHostKeyChecking=yes" {
			args[i] = "StrictHostKeyChecking=accept-new"
		}
	}
	cmd := exec.CommandContext(ctx, "ssh", append(args, "--", s.host, "true")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return s.explain(err, stderr.String())
	}
	// ssh only warns when it cannot write known_hosts; make sure it did.
	if s.opt.KnownHosts != "" {
		if err := exec.CommandContext(ctx, "ssh-keygen", "-F", name, "-f", s.opt.KnownHosts).Run(); err != nil {
			return fmt.Errorf("the host key of %s was not recorded in %s: %s", s.name, s.opt.KnownHosts, textclean.FirstLine(stderr.String()))
		}
	}
	return nil
}

// Reach connects and runs nothing, to check reachability, host key and login.
func (s *Host) Reach(ctx context.Context) error {
	_, err := s.remote(ctx, "true")
	return err
}

// Probe connects and inspects the deploy path without changing anything
// but creating it.
func (s *Host) Probe(ctx context.Context) (host.Probe, error) {
	out, err := s.remote(ctx, probeScript, s.path)
	if err != nil {
		return host.Probe{}, err
	}
	return parseProbe(out)
}

const probeScript = `mkdir -p "$1" 2>/dev/null
if [ -w "$1" ]; then echo writable=yes; else echo writable=no; fi
echo "free=$(df -Pk "$1" 2>/dev/null | awk 'NR==2 {print $4}')"
echo "rsync=$(command -v rsync)"
if [ -L "$1/current" ]; then echo "current=$(readlink "$1/current")"; fi
if [ -d "$1/releases" ]; then
	echo "used=$(du -sk "$1/releases" 2>/dev/null | awk '{print $1}')"
	for r in "$1"/releases/v*; do [ -d "$r" ] && echo "release=${r##*/}"; done
fi
exit 0`

func parseProbe(out []byte) (host.Probe, error) {
	var p host.Probe
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "writable":
			p.Writable = v == "yes"
		case "free":
			n, _ := strconv.ParseInt(v, 10, 64)
			p.FreeBytes = n * 1024
		case "used":
			n, _ := strconv.ParseInt(v, 10, 64)
			p.UsedBytes = n * 1024
		case "rsync":
			p.Rsync = v
		case "current":
			p.Current, _ = host.ReleaseFromTarget(v)
		case "release":
			if _, ok := host.ParseRelease(v); ok {
				p.Releases = append(p.Releases, v)
			}
		}
	}
	host.SortReleases(p.Releases)
	return p, nil
}

// rsyncHost is host as the host part of an rsync destination: an IPv6
// address goes in brackets, or rsync would read its first colon as the
// end of the host.
func rsyncHost(host string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]"
	}
	return host
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
