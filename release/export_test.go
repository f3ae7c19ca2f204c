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

// gitRepo makes a bare repository with commits built from a work tree and
// returns the bare path and a function that commits the given files.
func gitRepo(t *testing.T) (bare string, commit func(files map[string]string, msg string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	bare = filepath.Join(dir, "app.git")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com",
			"GIT_COMMITTER_NAME=A", "GIT_COMMITTER_EMAIL=a@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(dir, "init", "-q", "--bare", bare)
	run(dir, "init", "-q", "-b", "main", work)
	n := 0
	return bare, func(files map[string]string, msg string) string {
		for name, content := range files {
			p := filepath.Join(work, name)
			if content == "" {
				run(work, "rm", "-q", name)
				continue
			}
			os.MkdirAll(filepath.Dir(p), 0o755)
			mode := os.FileMode(0o644)
			if strings.HasPrefix(content, "#!") {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, mode)
			run(work, "add", name)
		}
		n++
		// Distinct commit times, as successive pushes have.
		date := time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC).Format(time.RFC3339)
		cmd := exec.Command("git", "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", msg)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("commit: %v\n%s", err, out)
		}
		run(work, "push", "-q", bare, "main")
		return run(work, "rev-parse", "HEAD")
	}
}

func TestExportMatchesGitArchive(t *testing.T) {
	bare, commit := gitRepo(t)
	c1 := commit(map[string]string{
		"index.html":     "hello",
		"bin/start":      "#!/bin/sh\necho start\n",
		"deep/a/b/c.txt": "c",
	}, "First")

	dest := filepath.Join(t.TempDir(), "v1")
	m, st, err := Export(context.Background(), bare, c1, dest, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 3 || len(m.Files) != 3 {
		t.Errorf("exported %d files (%d in manifest), want 3", st.Files, len(m.Files))
	}
	// Compare with what git archive | tar -x produces.
	ref := t.TempDir()
	sh := exec.Command("sh", "-c", `git -C "$1" -c tar.umask=0022 archive "$2" | tar -x -C "$3"`, "sh", bare, c1, ref)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	for _, name := range []string{"index.html", "bin/start", "deep/a/b/c.txt"} {
		want, _ := os.Stat(filepath.Join(ref, name))
		got, err := os.Stat(filepath.Join(dest, name))
		if err != nil {
			t.Fatalf("%s missing from export: %v", name, err)
		}
		if got.Mode() != want.Mode() {
			t.Errorf("%s mode %v, want %v", name, got.Mode(), want.Mode())
		}
		a, _ := os.ReadFile(filepath.Join(ref, name))
		b, _ := os.ReadFile(filepath.Join(dest, name))
		if string(a) != string(b) {
			t.Errorf("%s content differs from git archive", name)
		}
	}
	if m.Files["bin/start"].Mode != "100755" {
		t.Errorf("manifest mode of bin/start = %q, want 100755", m.Files["bin/start"].Mode)
	}
}

func TestExportKeepsMtimeOfUnchangedFiles(t *testing.T) {
	bare, commit := gitRepo(t)
	c1 := commit(map[string]string{"same.txt": "same", "changed.txt": "aaa", "gone.txt": "x"}, "First")
	c2 := commit(map[string]string{"changed.txt": "bbb", "gone.txt": "", "new.txt": "n"}, "Second")

	m1, _, err := Export(context.Background(), bare, c1, filepath.Join(t.TempDir(), "v1"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "v2")
	m2, _, err := Export(context.Background(), bare, c2, dest, m1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Files["same.txt"].MTime != m1.Files["same.txt"].MTime {
		t.Error("unchanged file got a new mtime; rsync would resend it")
	}
	if m2.Files["changed.txt"].MTime == m1.Files["changed.txt"].MTime {
		t.Error("changed file (same size) kept its mtime; rsync's quick check would skip it")
	}
	if _, ok := m2.Files["gone.txt"]; ok {
		t.Error("deleted file is in the manifest")
	}
	fi, _ := os.Stat(filepath.Join(dest, "same.txt"))
	if fi.ModTime().Unix() != m1.Files["same.txt"].MTime {
		t.Errorf("same.txt on disk has mtime %v, want the previous release's", fi.ModTime())
	}
}

func TestReleaseNumbersAndTags(t *testing.T) {
	bare, commit := gitRepo(t)
	c1 := commit(map[string]string{"a": "a"}, "First")
	if n, err := LastRelease(bare); err != nil || n != 0 {
		t.Fatalf("LastRelease of a new repo = %d, %v; want 0", n, err)
	}
	now := time.Now()
	for i := 1; i <= 3; i++ {
		if err := CreateTag(bare, i, c1, "shop", "production", "alice", now); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateTag(bare, 2, c1, "shop", "production", "bob", now); err == nil {
		t.Error("a release number was given twice")
	}
	if n, _ := LastRelease(bare); n != 3 {
		t.Errorf("LastRelease = %d, want 3", n)
	}
	tag, err := ReadTag(bare, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if tag.Commit != c1 || tag.Env != "production" || tag.User != "alice" {
		t.Errorf("ReadTag(v2) = %+v", tag)
	}
}
