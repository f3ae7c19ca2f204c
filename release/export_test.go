package release

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/host/hosttest"
	"github.com/slipwayhq/slipway/release/transport/local"
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
	m, st, err := Export(context.Background(), bare, c1, dest, nil, 0, 0)
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

	m1, _, err := Export(context.Background(), bare, c1, filepath.Join(t.TempDir(), "v1"), nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "v2")
	m2, _, err := Export(context.Background(), bare, c2, dest, m1, 0, 0)
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

// scriptRepo makes a bare repository fed by a work tree; each call of the
// returned function runs a shell script in the work tree, commits
// everything (git add -A) with its own commit time, pushes, and returns
// the commit id.
func scriptRepo(t *testing.T) (bare string, step func(script string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	bare = filepath.Join(dir, "app.git")
	n := 0
	return bare, func(script string) string {
		t.Helper()
		if n == 0 {
			script = `git init -q --bare "$BARE" && git init -q -b main . && ` + script
			os.MkdirAll(work, 0o755)
		}
		n++
		date := time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC).Format(time.RFC3339)
		cmd := exec.Command("sh", "-ec", script+`
git add -A
git -c user.name=A -c user.email=a@example.com -c core.autocrlf=false commit -q --allow-empty -m "step $STEP"
git push -q "$BARE" main
git rev-parse HEAD`)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "BARE="+bare, "STEP="+strconv.Itoa(n),
			"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("step %d: %v\n%s", n, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1]
	}
}

// gitArchive extracts git archive of commit with tar, as the reference a
// release must equal.
func gitArchive(t *testing.T, bare, commit string) string {
	t.Helper()
	ref := t.TempDir()
	sh := exec.Command("sh", "-c", `git -C "$1" -c tar.umask=0022 archive "$2" | tar -x -C "$3"`, "sh", bare, commit, ref)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	return ref
}

// TestReleasesMatchGitArchive exports consecutive releases against the
// previous manifest, whole or from the previous release's kept export,
// uploads each with rsync --link-dest next to the one
// before, as a host gets them, and checks that every release is exactly
// git archive of its commit, whatever changed between them.
func TestReleasesMatchGitArchive(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	bare, step := scriptRepo(t)
	steps := []struct{ name, script string }{
		{"first release", `
printf 'VERSION export-subst\nprivate export-ignore\n' > .gitattributes
printf '$Format:%%H$\n' > VERSION
echo a > a.txt; echo b > b.txt; printf 'one\ntwo\n' > lines.txt
mkdir bin private; printf '#!/bin/sh\necho run\n' > bin/run; chmod +x bin/run
echo secret > private/key
echo file > flip
ln -s a.txt link`},
		{"another file changes, VERSION's blob does not", `echo b2 > b.txt`},
		{"rename, exec bit off, symlink retargeted", `
git mv a.txt c.txt; chmod -x bin/run; rm link; ln -s c.txt link`},
		{"file becomes a directory, eol conversion on an unchanged blob", `
rm flip; mkdir flip; echo inner > flip/inner
printf 'VERSION export-subst\nprivate export-ignore\n*.txt text eol=crlf\n' > .gitattributes`},
		{"directory becomes a file again, deletion, symlink becomes a file", `
rm -r flip; echo file again > flip; git rm -q c.txt; rm link; echo now a file > link`},
		{"export-ignore and export-subst dropped", `
printf '*.txt text eol=crlf\n' > .gitattributes; chmod +x bin/run`},
		{"nothing changes but the commit", `:`},
	}
	commits := make([]string, len(steps))
	for i, s := range steps {
		commits[i] = step(s.script)
	}
	// Each release is exported whole, or from the kept export of the one
	// before (see exportStore), as the engine does.
	for _, incremental := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "incremental"}[incremental], func(t *testing.T) {
			releasesMatchGitArchive(t, bare, commits, steps, incremental)
		})
	}
}

func releasesMatchGitArchive(t *testing.T, bare string, commits []string, steps []struct{ name, script string }, incremental bool) {
	hostDir := t.TempDir()
	lh := local.New(hostDir, nil)
	staging := t.TempDir()
	store := exportStore{dir: filepath.Join(t.TempDir(), "exports")}
	var prev *Manifest
	prevRel := ""
	for i, s := range steps {
		commit := commits[i]
		rel := host.ReleaseName(i + 1)
		dest := filepath.Join(staging, rel)
		var m *Manifest
		var err error
		if incremental {
			dest, m, _, err = store.export(context.Background(), bare, commit, "", rel, prevRel, prev, int64(1_800_000_000+i), 0)
		} else {
			m, _, err = Export(context.Background(), bare, commit, dest, prev, int64(1_800_000_000+i), 0)
		}
		if err != nil {
			t.Fatalf("%s: export: %v", s.name, err)
		}
		if _, err := lh.Upload(context.Background(), dest, rel, prevRel, nil); err != nil {
			t.Fatalf("%s: upload: %v", s.name, err)
		}
		got := hosttest.Tree(t, filepath.Join(hostDir, "releases", rel))
		want := hosttest.Tree(t, gitArchive(t, bare, commit))
		for p, w := range want {
			if got[p] != w {
				t.Errorf("%s: %s/%s is %s, git archive has %s", s.name, rel, p, orMissing(got[p]), w)
			}
		}
		for p, g := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("%s: %s/%s is %s, git archive has no such path", s.name, rel, p, g)
			}
		}
		prev, prevRel = m, rel
	}
}

func orMissing(s string) string {
	if s == "" {
		return "missing"
	}
	return s
}

// TestExportRefusesTreeBomb: a tree that names one blob many times is
// counted once per path and refused before anything is written.
func TestExportRefusesTreeBomb(t *testing.T) {
	bare, step := scriptRepo(t)
	commit := step(`head -c 1048576 /dev/zero > zero; for d in 1 2 3 4 5 6 7 8; do mkdir $d; cp zero $d/zero; done`)
	dest := filepath.Join(t.TempDir(), "staging", "v1")
	_, _, err := Export(context.Background(), bare, commit, dest, nil, 0, 4<<20)
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("Export = %v, want a *TooLargeError", err)
	}
	if tl.Size != 9<<20 || tl.Files != 9 || tl.Limit != 4<<20 || tl.Written {
		t.Errorf("TooLargeError = %+v, want 9 MiB in 9 files over 4 MiB, found before writing", tl)
	}
	want := "the tree of " + commit[:7] + " is 9.4 MB in 9 files, over max_release_size (4 MiB)"
	if tl.Error() != want {
		t.Errorf("message %q, want %q", tl.Error(), want)
	}
	if _, err := os.Lstat(filepath.Dir(dest)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the export wrote %s before refusing: %v", filepath.Dir(dest), err)
	}
	// The same tree under a limit it fits.
	if _, _, err := Export(context.Background(), bare, commit, dest, nil, 0, 9<<20); err != nil {
		t.Errorf("Export within the limit: %v", err)
	}

	// What export-ignore leaves out, directories or files, is not counted.
	commit = step(`printf '1 export-ignore\n2 export-ignore\n3 export-ignore\n4 export-ignore\n5/zero export-ignore\n6/* export-ignore\n' > .gitattributes`)
	dest = filepath.Join(t.TempDir(), "v2")
	m, _, err := Export(context.Background(), bare, commit, dest, nil, 0, 3<<20+1000)
	if err != nil {
		t.Fatalf("Export of a tree that export-ignore brings within the limit: %v", err)
	}
	if len(m.Files) != 4 { // zero, 7/zero, 8/zero, .gitattributes
		t.Errorf("exported %d files, want 4", len(m.Files))
	}
	_, _, err = Export(context.Background(), bare, commit, filepath.Join(t.TempDir(), "v3"), nil, 0, 3<<20)
	if !errors.As(err, &tl) || tl.Files != 4 || tl.Size <= 3<<20 {
		t.Errorf("Export just over the limit = %v, want a refusal counting 4 files", err)
	}
}

// TestExportStopsWhenSubstitutionOutgrowsLimit: export-subst makes files
// larger than their blobs; the bytes written are bounded too, and what
// was written is removed.
func TestExportStopsWhenSubstitutionOutgrowsLimit(t *testing.T) {
	bare, step := scriptRepo(t)
	// 2^17 placeholders of 11 bytes (1.4 MB) expand to 40 bytes each (5.2 MB).
	commit := step(`echo 'grow export-subst' > .gitattributes
printf '$Format:%%H$' > seed; for i in $(seq 17); do cat seed seed > next; mv next seed; done; mv seed grow`)
	dest := filepath.Join(t.TempDir(), "v1")
	_, _, err := Export(context.Background(), bare, commit, dest, nil, 0, 2<<20)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !tl.Written {
		t.Fatalf("Export = %v, want a *TooLargeError for what was written", err)
	}
	if !strings.Contains(tl.Error(), "the export of "+commit[:7]+" grew past max_release_size (2 MiB)") {
		t.Errorf("message %q", tl.Error())
	}
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the oversized export was left at %s: %v", dest, err)
	}
}

func TestExactBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{2 << 30, "2 GiB"}, {64e6, "64 MB"}, {1 << 20, "1 MiB"}, {3e9, "3 GB"}, {1536 << 10, "1536 KiB"}, {1000001, "1000001 bytes"}} {
		if got := exactBytes(tt.n); got != tt.want {
			t.Errorf("exactBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
