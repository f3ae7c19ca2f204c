//go:build unix

package release

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/sshrig"
)

// The Host contract is tested once, here, and every transport runs it:
// Local on this machine and SSH against a real sshd (internal/sshrig).
// A new transport adds a case to hostTransports.

// hostTransports make a fresh host deploying under a new directory and
// return it with that directory as seen from this machine (sshrig hosts
// live on loopback, their files under the test's temporary directory).
var hostTransports = []struct {
	name string
	make func(t testing.TB, dirName string) (Host, string)
}{
	{"local", func(t testing.TB, dirName string) (Host, string) {
		dir := filepath.Join(t.TempDir(), dirName)
		return NewLocal(dir), dir
	}},
	{"ssh", func(t testing.TB, dirName string) (Host, string) {
		r := sshrig.StartT(t, 1)
		return sshHost(t, r, r.Hosts[0], dirName)
	}},
}

// sshHost is an SSH host of rig r deploying under dirName in h's root.
func sshHost(t testing.TB, r *sshrig.Rig, h *sshrig.Host, dirName string) (*SSH, string) {
	t.Helper()
	dir := filepath.Join(h.Root, dirName)
	ctl := filepath.Join(os.TempDir(), "slw-"+randomID())
	if err := os.Mkdir(ctl, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ctl) })
	s := NewSSH(&config.Host{Name: h.Name, Address: h.Addr(), User: h.User}, dir,
		SSHOptions{KeyFile: r.ClientKey, KnownHosts: r.KnownHosts, ControlDir: ctl})
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func writeTree(t testing.TB, dir string, files map[string]string) {
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

func needRsync(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed; run scripts/deps.sh")
	}
}

func TestHostContract(t *testing.T) {
	needRsync(t)
	for _, tr := range hostTransports {
		t.Run(tr.name, func(t *testing.T) {
			// A deploy path a shell would misread if a value reached it
			// unquoted.
			h, dir := tr.make(t, `srv dir's $(touch pwned) "x"`)
			testHostContract(t, h, dir)
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "pwned")); err == nil {
				t.Error("a deploy path reached a shell unquoted")
			}
		})
	}
}

func testHostContract(t *testing.T, h Host, dir string) {
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, map[string]string{"same.txt": "same", "changed.txt": "old", "gone.txt": "x"})

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
		writeTree(t, filepath.Join(dir, "releases", ".v3.partial"), map[string]string{"same.txt": "same", "stale": "x"})
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
		if !errors.Is(err, ErrNotOnHost) {
			t.Errorf("Switch to v9 = %v, want ErrNotOnHost", err)
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
			if _, err := h.Switch(ctx, rel, 2); err == nil || errors.Is(err, ErrNotOnHost) {
				t.Errorf("Switch(%q) = %v, want bad release name", rel, err)
			}
			if _, err := h.Upload(ctx, src, rel, "", nil); err == nil {
				t.Errorf("Upload(%q) succeeded", rel)
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
func TestHostUploadToAPathItCannotCreate(t *testing.T) {
	needRsync(t)
	for _, tr := range hostTransports {
		t.Run(tr.name, func(t *testing.T) {
			h, dir := tr.make(t, "not-a-dir")
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			src := t.TempDir()
			writeTree(t, src, map[string]string{"a": "a"})
			_, err := h.Upload(context.Background(), src, "v1", "", nil)
			if err == nil || !strings.Contains(err.Error(), "releases") || !strings.Contains(err.Error(), "not-a-dir") {
				t.Errorf("Upload under a file = %v, want an error naming releases and the path", err)
			}
		})
	}
}
