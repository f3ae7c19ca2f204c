//go:build linux

// Package hosttest is the conformance suite of the host.Host contract.
// Every transport runs it from its own tests, against the real thing: the
// local transport on this machine, OpenSSH against a real sshd
// (internal/sshrig). The suite checks the host's files directly, so the
// host's deploy path must be a directory this machine can read.
package hosttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/internal/proctest"
	"github.com/slipwayhq/slipway/lifecycle"
	"github.com/slipwayhq/slipway/release/host"
)

// Factory makes a fresh host deploying under a new directory named
// dirName and returns it with that directory as this machine sees it. The
// host is closed when the test ends.
type Factory func(t testing.TB, dirName string) (host.Host, string)

// Run runs every test of the suite against the hosts newHost makes.
func Run(t *testing.T, newHost Factory) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed; run scripts/deps.sh")
	}
	for _, tc := range []struct {
		name string
		test func(*testing.T, Factory)
	}{
		{"contract", contract},
		{"upload to a path it cannot create", uploadToAPathItCannotCreate},
		{"proportional upload falls back", proportionalUploadFallsBack},
		{"proportional upload never writes through links", proportionalUploadNeverWritesThroughLinks},
		{"attach", attach},
		{"run output is bounded", runOutputIsBounded},
		{"probe", probe},
		{"write shared", writeShared},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHost) })
	}
}

func contract(t *testing.T, newHost Factory) {
	// A deploy path a shell would misread if a value reached it unquoted.
	h, dir := newHost(t, `srv dir's $(touch pwned) "x"`)
	defer func() {
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "pwned")); err == nil {
			t.Error("a deploy path reached a shell unquoted")
		}
	}()
	ctx := context.Background()
	src := t.TempDir()
	WriteTree(t, src, map[string]string{"same.txt": "same", "changed.txt": "old", "gone.txt": "x"})

	t.Run("open before any deploy", func(t *testing.T) {
		info, err := h.Open(ctx)
		if err != nil || info.Current != "" || len(info.Releases) != 0 {
			t.Fatalf("Open = %+v, %v; want nothing", info, err)
		}
	})

	t.Run("upload", func(t *testing.T) {
		if _, err := h.Upload(ctx, src, "v1", "", nil); err != nil {
			t.Fatal(err)
		}
		// A new tree as Export makes it: same.txt keeps its mtime,
		// changed.txt (same size) gets a different one.
		changed := filepath.Join(src, "changed.txt")
		fi, _ := os.Stat(changed)
		if err := os.WriteFile(changed, []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(changed, fi.ModTime(), fi.ModTime().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(src, "gone.txt"))
		st, err := h.Upload(ctx, src, "v2", "v1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Files != 1 {
			t.Errorf("upload reported %d files transferred, want 1", st.Files)
		}
		a, _ := os.Stat(filepath.Join(dir, "releases/v1/same.txt"))
		b, _ := os.Stat(filepath.Join(dir, "releases/v2/same.txt"))
		if !os.SameFile(a, b) {
			t.Error("unchanged file was copied, want a hard link to the previous release")
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "releases/v2/changed.txt")); string(got) != "new" {
			t.Errorf("changed.txt = %q, want new", got)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "releases/v1/changed.txt")); string(got) != "old" {
			t.Errorf("previous release's changed.txt = %q, want old (hard links must not be written through)", got)
		}
		if _, err := os.Stat(filepath.Join(dir, "releases/v2/gone.txt")); !os.IsNotExist(err) {
			t.Error("deleted file is still in the new release")
		}
		if _, err := h.Upload(ctx, src, "v2", "v1", nil); err == nil || !strings.Contains(err.Error(), "releases/v2 already exists") {
			t.Errorf("second upload of v2 = %v, want it refused: releases/v2 already exists", err)
		}
		if info, err := h.Open(ctx); err != nil || !slices.Equal(info.Releases, []string{"v1", "v2"}) {
			t.Errorf("Open = %+v, %v; want releases v1 v2", info, err)
		}
	})

	t.Run("upload resumes an interrupted one", func(t *testing.T) {
		// What an upload of v3 cut short leaves behind.
		WriteTree(t, filepath.Join(dir, "releases", ".v3.partial"), map[string]string{"same.txt": "same", "stale": "x"})
		if _, err := h.Upload(ctx, src, "v4", "v2", nil); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "releases"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "v1 v2 v4" {
			t.Errorf("releases/ holds %v, want v1 v2 v4", names)
		}
		if _, err := os.Stat(filepath.Join(dir, "releases/v4/stale")); !os.IsNotExist(err) {
			t.Error("a file only the interrupted upload had survived into the release")
		}
	})

	t.Run("switch is a rename", func(t *testing.T) {
		res, err := h.Switch(ctx, "v1", 0)
		if err != nil || res.Previous != "" {
			t.Fatalf("first Switch = %+v, %v; want previous none", res, err)
		}
		before, err := os.Lstat(filepath.Join(dir, "current"))
		if err != nil {
			t.Fatal(err)
		}
		if res, err = h.Switch(ctx, "v2", 0); err != nil || res.Previous != "v1" {
			t.Fatalf("Switch to v2 = %+v, %v; want previous v1", res, err)
		}
		if !slices.Equal(res.Releases, []string{"v1", "v2", "v4"}) || len(res.Removed) != 0 {
			t.Errorf("Switch without keep = %+v; want nothing removed, v1 v2 v4 left", res)
		}
		target, err := os.Readlink(filepath.Join(dir, "current"))
		if err != nil || target != "releases/v2" {
			t.Fatalf("current → %q, %v; want releases/v2", target, err)
		}
		after, _ := os.Lstat(filepath.Join(dir, "current"))
		if os.SameFile(before, after) {
			t.Error("current was modified in place; want a new symlink renamed over it")
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "current.tmp") {
				t.Errorf("temporary symlink %s left behind", e.Name())
			}
		}
		if info, err := h.Open(ctx); err != nil || info.Current != "v2" {
			t.Errorf("Open = %+v, %v; want current v2", info, err)
		}
	})

	t.Run("switch to a release the host lacks changes nothing", func(t *testing.T) {
		_, err := h.Switch(ctx, "v9", 2)
		if !errors.Is(err, host.ErrNotOnHost) {
			t.Errorf("Switch to v9 = %v, want host.ErrNotOnHost", err)
		}
		if target, _ := os.Readlink(filepath.Join(dir, "current")); target != "releases/v2" {
			t.Errorf("after a refused switch current → %q, want releases/v2", target)
		}
		if info, _ := h.Open(ctx); !slices.Equal(info.Releases, []string{"v1", "v2", "v4"}) {
			t.Errorf("a refused switch pruned: %q left", info.Releases)
		}
	})

	t.Run("remove refuses the live release", func(t *testing.T) {
		if err := h.Remove(ctx, "v2"); err == nil {
			t.Error("Remove of the live release succeeded")
		}
		if _, err := os.Stat(filepath.Join(dir, "releases/v2")); err != nil {
			t.Errorf("the live release is gone: %v", err)
		}
	})

	t.Run("switch prunes beyond keep, never the previous release", func(t *testing.T) {
		if _, err := h.Upload(ctx, src, "v5", "v4", nil); err != nil {
			t.Fatal(err)
		}
		// Directories Slipway did not make are neither counted nor touched.
		for _, n := range []string{"v0", "v1.bak", "v01", "v1234567890", "vendor"} {
			if err := os.Mkdir(filepath.Join(dir, "releases", n), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// v1 v2 v4 v5, v2 live: keeping 2 leaves v5 and v2, the one it replaced.
		res, err := h.Switch(ctx, "v5", 2)
		if err != nil {
			t.Fatal(err)
		}
		if res.Previous != "v2" || !slices.Equal(res.Removed, []string{"v1", "v4"}) || !slices.Equal(res.Releases, []string{"v2", "v5"}) {
			t.Errorf("Switch(v5, keep 2) = %+v; want previous v2, removed v1 v4, left v2 v5", res)
		}
		if info, _ := h.Open(ctx); !slices.Equal(info.Releases, []string{"v2", "v5"}) || info.Current != "v5" {
			t.Errorf("Open after pruning = %+v, want current v5, releases v2 v5", info)
		}
		// Open sweeps what a deletion left (and waits for nothing).
		waitGone(t, filepath.Join(dir, "releases"), ".v1.removing", ".v4.removing")
		for _, n := range []string{"v0", "v1.bak", "v01", "v1234567890", "vendor"} {
			if _, err := os.Stat(filepath.Join(dir, "releases", n)); err != nil {
				t.Errorf("pruning touched releases/%s: %v", n, err)
			}
			os.Remove(filepath.Join(dir, "releases", n))
		}
	})

	t.Run("switch to none removes current", func(t *testing.T) {
		res, err := h.Switch(ctx, "", 0)
		if err != nil || res.Previous != "v5" {
			t.Fatalf("Switch(\"\") = %+v, %v; want previous v5", res, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "current")); !os.IsNotExist(err) {
			t.Errorf("Switch(\"\") left current: %v", err)
		}
	})

	t.Run("remove", func(t *testing.T) {
		if err := h.Remove(ctx, "v2"); err != nil {
			t.Fatal(err)
		}
		if err := h.Remove(ctx, "v2"); err != nil {
			t.Errorf("Remove of a release that is gone = %v, want nil", err)
		}
		if info, _ := h.Open(ctx); !slices.Equal(info.Releases, []string{"v5"}) {
			t.Errorf("after Remove(v2) the host holds %q, want v5", info.Releases)
		}
	})

	t.Run("bad release names are refused before any session", func(t *testing.T) {
		for _, rel := range []string{"v0", "../v1", "v1; rm -rf /", "latest"} {
			if _, err := h.Switch(ctx, rel, 2); err == nil || errors.Is(err, host.ErrNotOnHost) {
				t.Errorf("Switch(%q) = %v, want bad release name", rel, err)
			}
			if _, err := h.Upload(ctx, src, rel, "", nil); err == nil {
				t.Errorf("Upload(%q) succeeded", rel)
			}
			if _, err := h.Upload(ctx, src, "v6", rel, nil); err == nil {
				t.Errorf("Upload from %q succeeded", rel)
			}
			if err := h.Remove(ctx, rel); err == nil {
				t.Errorf("Remove(%q) succeeded", rel)
			}
		}
	})

	t.Run("current that Slipway did not write", func(t *testing.T) {
		if err := os.Symlink("/etc", filepath.Join(dir, "current")); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(dir, "current"))
		if _, err := h.Open(ctx); err == nil || !strings.Contains(err.Error(), "not to a Slipway release") {
			t.Errorf("Open = %v, want current refused as not a Slipway release", err)
		}
		if _, err := h.Switch(ctx, "v5", 2); err == nil {
			t.Error("Switch replaced a current that Slipway did not write")
		}
		if target, _ := os.Readlink(filepath.Join(dir, "current")); target != "/etc" {
			t.Errorf("current → %q, want it left alone", target)
		}
	})
}

// waitGone waits until none of names is left in dir, sweeping with Open's
// rule: a removal that runs in the background must end.
func waitGone(t *testing.T, dir string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		left := 0
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v still in %s", names, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An upload to a deploy path that cannot be created says so (the path is
// a file here, which stops root too).
func uploadToAPathItCannotCreate(t *testing.T, newHost Factory) {
	h, dir := newHost(t, "not-a-dir")
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	WriteTree(t, src, map[string]string{"a": "a"})
	_, err := h.Upload(context.Background(), src, "v1", "", nil)
	if err == nil || !strings.Contains(err.Error(), "releases") || !strings.Contains(err.Error(), "not-a-dir") {
		t.Errorf("Upload under a file = %v, want an error naming releases and the path", err)
	}
}

// A host that lacks the release to start from, or holds an interrupted
// upload, gets the whole tree compared, and the release is still exact.
func proportionalUploadFallsBack(t *testing.T, newHost Factory) {
	ctx := context.Background()
	h, dir := newHost(t, "app")
	v1, v2 := t.TempDir(), t.TempDir()
	WriteTree(t, v1, map[string]string{"same.txt": "same", "changed.txt": "old", "dir/gone.txt": "x"})
	WriteTree(t, v2, map[string]string{"same.txt": "same", "changed.txt": "new", "added.txt": "+"})
	// As Export gives them: what changed has another mtime.
	touch(t, v1, 1_800_000_000, "same.txt", "changed.txt", "dir/gone.txt")
	touch(t, v2, 1_800_000_000, "same.txt")
	touch(t, v2, 1_800_000_001, "changed.txt", "added.txt")
	// What the engine's Changes gives for these two trees.
	changed := []string{"added.txt", "changed.txt", "dir"}
	if _, err := h.Upload(ctx, v1, "v1", "", nil); err != nil {
		t.Fatal(err)
	}
	rels := filepath.Join(dir, "releases")

	// An interrupted proportional upload of v2: a link copy of v1,
	// partly updated.
	if out, err := exec.Command("cp", "-al", filepath.Join(rels, "v1"), filepath.Join(rels, ".v2.partial")).CombinedOutput(); err != nil {
		t.Fatalf("cp -al: %v %s", err, out)
	}
	WriteTree(t, filepath.Join(rels, ".v2.partial"), map[string]string{"stale": "x"})
	before := Snapshot(t, filepath.Join(rels, "v1"))
	st, err := h.Upload(ctx, v2, "v3", "v1", changed)
	if err != nil {
		t.Fatal(err)
	}
	if st.From != "" {
		t.Errorf("upload over an interrupted one said from %q, want a full compare", st.From)
	}
	if got, want := Tree(t, filepath.Join(rels, "v3")), Tree(t, v2); !maps.Equal(got, want) {
		t.Errorf("resumed upload gave %v, want %v", got, want)
	}
	if after := Snapshot(t, filepath.Join(rels, "v1")); !maps.Equal(before, after) {
		t.Errorf("the resumed upload changed v1: %v, was %v", after, before)
	}
	if ents, _ := os.ReadDir(rels); len(ents) != 2 {
		t.Errorf("releases/ holds %d entries, want v1 v3", len(ents))
	}

	// The release to start from is not there.
	st, err = h.Upload(ctx, v2, "v4", "v2", changed)
	if err != nil {
		t.Fatal(err)
	}
	if st.From != "" {
		t.Errorf("upload from a release the host lacks said from %q, want a full compare", st.From)
	}
	if got, want := Tree(t, filepath.Join(rels, "v4")), Tree(t, v2); !maps.Equal(got, want) {
		t.Errorf("upload gave %v, want %v", got, want)
	}
}

// A file whose mode alone changed, its bytes and mtime kept, is a new
// inode in the new release; the one the running release holds keeps its
// mode.
func proportionalUploadNeverWritesThroughLinks(t *testing.T, newHost Factory) {
	h, dir := newHost(t, "app")
	v1, v2 := t.TempDir(), t.TempDir()
	WriteTree(t, v1, map[string]string{"run": "#!/bin/sh\n"})
	WriteTree(t, v2, map[string]string{"run": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(v2, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, v1, 1_800_000_000, "run")
	touch(t, v2, 1_800_000_000, "run")
	changed := []string{"run"}
	ctx := context.Background()
	if _, err := h.Upload(ctx, v1, "v1", "", nil); err != nil {
		t.Fatal(err)
	}
	if st, err := h.Upload(ctx, v2, "v2", "v1", changed); err != nil || st.From != "v1" {
		t.Fatalf("Upload = %+v, %v; want from v1", st, err)
	}
	for rel, want := range map[string]fs.FileMode{"v1": 0o644, "v2": 0o755} {
		if fi, err := os.Stat(filepath.Join(dir, "releases", rel, "run")); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s/run: %v, %v; want mode %v", rel, fi.Mode(), err, want)
		}
	}
}

// Attach: the variables arrive whole (even ones that look like Slipway's
// own lines), a command that ends reports its status, and one that waits
// forever is stopped, with what it started in the background, once the
// context ends.
func attach(t *testing.T, newHost Factory) {
	h, dir := newHost(t, "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	value := "it's \"two\"\nlines; slipway-end-0123456789ab\n$(false)"
	var out lockedBuffer
	err := h.Attach(context.Background(), "", `printf '%s|' "$V"; exit 3`, []string{"V=" + value}, &out)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Attach of a failing command = %v, want exit status 3", err)
	}
	if got := out.String(); got != value+"|" {
		t.Errorf("the variable arrived as %q, want %q", got, value+"|")
	}

	ctx, cancel := context.WithCancel(context.Background())
	out = lockedBuffer{}
	done := make(chan error, 1)
	pids := filepath.Join(dir, "pids")
	go func() {
		done <- h.Attach(ctx, "", `sleep 600 & echo $! > pids; echo $$ >> pids; echo ready; exec sleep 601`, nil, &out)
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "ready") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Attach stopped by its context = %v, want nil", err)
	}
	data, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		waitFor(t, func() bool { return !proctest.Running(pid) })
	}
}

// A hook that writes 50 MB of lines and then a 20 MB line without a
// newline: the lines arrive whole, masked and cut, the tail stays small,
// and the server allocates a small fraction of what the hook wrote.
func runOutputIsBounded(t *testing.T, newHost Factory) {
	const mb = 1 << 20
	const lineCount = 1500000 // "a line of output, password hunter2\n": 50 MB
	command := fmt.Sprintf(`yes 'a line of output, password hunter2' | head -n %d
head -c %d /dev/zero | tr '\0' x
echo
echo last line`, lineCount, 20*mb)
	h, dir := newHost(t, "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lines := &cutLines{t: t}
	o := lifecycle.NewOutput(lines, []string{"hunter2"})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := h.Run(context.Background(), "", command, nil, o)
	o.Close()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}

	if want := lineCount * len("a line of output, password ***\n"); lines.bytes < want {
		t.Errorf("streamed %d bytes, want the %d bytes of masked lines first", lines.bytes, want)
	}
	if lines.secret {
		t.Errorf("a line showed the secret")
	}
	if !lines.cut {
		t.Errorf("the 20 MB line was not cut to %d bytes and a marker", lifecycle.MaxLine)
	}
	tail := o.Tail()
	if len(tail) > 64<<10 {
		t.Errorf("Tail kept %d bytes, want at most 64 KiB", len(tail))
	}
	if !bytes.HasSuffix(tail, []byte("x…\nlast line\n")) {
		t.Errorf("Tail ends with %q", tail[max(0, len(tail)-40):])
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*mb {
		t.Errorf("allocated %d bytes for 70 MB of output, want less than 8 MiB", alloc)
	}
}

func touch(t *testing.T, dir string, mtime int64, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Chtimes(filepath.Join(dir, n), time.Unix(mtime, 0), time.Unix(mtime, 0)); err != nil {
			t.Fatal(err)
		}
	}
}

// Snapshot is Tree with the mtime of every file and symlink.
func Snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := Tree(t, dir)
	for p, v := range out {
		if fi, err := os.Lstat(filepath.Join(dir, p)); err == nil && !fi.IsDir() {
			out[p] = fmt.Sprintf("%s mtime %d", v, fi.ModTime().UnixNano())
		}
	}
	return out
}

// Tree describes every path under dir: type, permission bits, and
// the content or the link target.
func Tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink -> " + target
		case fi.IsDir():
			out[rel] = "dir"
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %v %q", fi.Mode().Perm(), data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds; the bound only ends a broken run.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cutLines checks each write of a lifecycle.Output: whole lines, none longer
// than a cut line, no secret. It converts nothing to a string, which would
// allocate as much as the output.
type cutLines struct {
	t      *testing.T
	bytes  int
	secret bool
	cut    bool // saw the 20 MB line cut to MaxLine bytes and "…"
}

func (c *cutLines) Write(p []byte) (int, error) {
	c.bytes += len(p)
	if len(p) == 0 || p[len(p)-1] != '\n' {
		c.t.Errorf("write of %d bytes is not whole lines", len(p))
	}
	for line := range bytes.SplitSeq(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		if len(line) > lifecycle.MaxLine+len("…") {
			c.t.Errorf("a line of %d bytes was passed on", len(line))
		}
		if bytes.Contains(line, []byte("hunter2")) {
			c.secret = true
		}
		if len(line) == lifecycle.MaxLine+len("…") && bytes.Equal(line, []byte(strings.Repeat("x", lifecycle.MaxLine)+"…")) {
			c.cut = true
		}
	}
	return len(p), nil
}

// WriteTree writes files (path → content) under dir.
func WriteTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Probe, which `slipway check` shows, reports what the host holds and
// creates a missing deploy path.
func probe(t *testing.T, newHost Factory) {
	ctx := context.Background()
	h, dir := newHost(t, "app")
	p, err := h.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("Probe did not create the deploy path: %v", err)
	}
	if !p.Writable || p.Rsync == "" || p.FreeBytes <= 0 || p.Current != "" || len(p.Releases) != 0 {
		t.Errorf("Probe of an empty path = %+v; want writable, rsync found, free space, nothing deployed", p)
	}
	src := t.TempDir()
	WriteTree(t, src, map[string]string{"big": strings.Repeat("x", 1<<20)})
	if _, err := h.Upload(ctx, src, "v1", "", nil); err != nil {
		t.Fatal(err)
	}
	// v2 hard-links v1's file: the disk holds it once.
	if _, err := h.Upload(ctx, src, "v2", "v1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Switch(ctx, "v2", 0); err != nil {
		t.Fatal(err)
	}
	if p, err = h.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Current != "v2" || !slices.Equal(p.Releases, []string{"v1", "v2"}) || p.UsedBytes < 1<<20 || p.UsedBytes >= 2<<20 {
		t.Errorf("Probe = %+v; want current v2, releases v1 v2, 1 to 2 MiB used (a hard-linked file counts once)", p)
	}
}

// WriteShared replaces shared/NAME whole, readable by the deploy user
// only; the data never reaches a command line.
func writeShared(t *testing.T, newHost Factory) {
	ctx := context.Background()
	h, dir := newHost(t, "app")
	for _, data := range []string{"SECRET=first\n", "SECRET=it's $(second)\n"} {
		if err := h.WriteShared(ctx, "env/.env", []byte(data)); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "shared", "env", ".env")
		got, err := os.ReadFile(file)
		if err != nil || string(got) != data {
			t.Errorf("shared/env/.env = %q, %v; want %q", got, err, data)
		}
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("shared/env/.env mode %v, %v; want 0600", fi.Mode().Perm(), err)
		}
	}
}
