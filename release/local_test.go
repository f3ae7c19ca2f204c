package release

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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

func TestLocalSwitchIsARename(t *testing.T) {
	needRsync(t)
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, map[string]string{"index.html": "one"})
	h := NewLocal(filepath.Join(t.TempDir(), "srv"))

	if cur, err := h.Current(ctx); err != nil || cur != "" {
		t.Fatalf("Current before any deploy = %q, %v; want \"\", nil", cur, err)
	}
	for _, rel := range []string{"v1", "v2"} {
		if _, err := h.Upload(ctx, src, rel, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Switch(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	before, err := os.Lstat(filepath.Join(h.Path, "current"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Switch(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(h.Path, "current"))
	if err != nil || target != "releases/v2" {
		t.Fatalf("current → %q, %v; want releases/v2", target, err)
	}
	after, _ := os.Lstat(filepath.Join(h.Path, "current"))
	if os.SameFile(before, after) {
		t.Error("current was modified in place; want a new symlink renamed over it")
	}
	entries, _ := os.ReadDir(h.Path)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "current.tmp") {
			t.Errorf("temporary symlink %s left behind", e.Name())
		}
	}
	if err := h.Switch(ctx, "v9"); err == nil {
		t.Error("Switch to a release that is not on the host succeeded")
	}
	if target, _ := os.Readlink(filepath.Join(h.Path, "current")); target != "releases/v2" {
		t.Errorf("after a refused switch current → %q, want releases/v2", target)
	}
	if err := h.Remove(ctx, "v2"); err == nil {
		t.Error("Remove of the live release succeeded")
	}
	if err := h.Switch(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(h.Path, "current")); !os.IsNotExist(err) {
		t.Errorf("Switch(\"\") left current: %v", err)
	}
}

func TestLocalUploadLinksUnchangedFiles(t *testing.T) {
	needRsync(t)
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, map[string]string{"same.txt": "same", "changed.txt": "old", "gone.txt": "x"})
	h := NewLocal(filepath.Join(t.TempDir(), "srv"))
	if _, err := h.Upload(ctx, src, "v1", ""); err != nil {
		t.Fatal(err)
	}
	// A new tree as Export makes it: same.txt keeps its mtime, changed.txt
	// (same size) gets a different one.
	changed := filepath.Join(src, "changed.txt")
	fi, _ := os.Stat(changed)
	if err := os.WriteFile(changed, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(changed, fi.ModTime(), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "gone.txt"))
	st, err := h.Upload(ctx, src, "v2", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 1 {
		t.Errorf("upload reported %d files transferred, want 1", st.Files)
	}
	a, _ := os.Stat(filepath.Join(h.Path, "releases/v1/same.txt"))
	b, _ := os.Stat(filepath.Join(h.Path, "releases/v2/same.txt"))
	if !os.SameFile(a, b) {
		t.Error("unchanged file was copied, want a hard link to the previous release")
	}
	if got, _ := os.ReadFile(filepath.Join(h.Path, "releases/v2/changed.txt")); string(got) != "new" {
		t.Errorf("changed.txt = %q, want new", got)
	}
	if got, _ := os.ReadFile(filepath.Join(h.Path, "releases/v1/changed.txt")); string(got) != "old" {
		t.Errorf("previous release's changed.txt = %q, want old (hard links must not be written through)", got)
	}
	if _, err := os.Stat(filepath.Join(h.Path, "releases/v2/gone.txt")); !os.IsNotExist(err) {
		t.Error("deleted file is still in the new release")
	}
	rels, _ := h.Releases(ctx)
	if strings.Join(rels, " ") != "v1 v2" {
		t.Errorf("Releases = %v, want [v1 v2]", rels)
	}
}

func TestLocalUploadResumesInterruptedUpload(t *testing.T) {
	needRsync(t)
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a": "a", "b": "b"})
	h := NewLocal(filepath.Join(t.TempDir(), "srv"))
	// What an upload of v3 cut short leaves behind.
	writeTree(t, filepath.Join(h.Path, "releases", ".v3.partial"), map[string]string{"a": "a", "stale": "x"})
	if _, err := h.Upload(ctx, src, "v4", ""); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(h.Path, "releases"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "v4" {
		t.Errorf("releases/ holds %v, want only v4", names)
	}
	if _, err := os.Stat(filepath.Join(h.Path, "releases/v4/stale")); !os.IsNotExist(err) {
		t.Error("a file only the interrupted upload had survived into the release")
	}
}
