package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/host/hosttest"
)

// incremental marks a step of exportSteps that must be exported from the
// kept export of the step before.
const incremental = ""

// exportSteps are consecutive commits of one repository, each with the
// tree changes an export or an upload from the release before must get
// right.
var exportSteps = []struct {
	name, subdir, script string
	full                 string // "" for incremental; otherwise a word of the reason, or "first"
	changed              int    // paths changed, VERSION's included while it has export-subst; -1: not checked
}{
	{"first release", "", `
printf 'VERSION export-subst\nprivate export-ignore\nhidden/** export-ignore\n' > .gitattributes
printf '$Format:%%H$\n' > VERSION
echo a > a.txt; echo b > b.txt; printf 'one\ntwo\n' > lines.txt
mkdir -p bin private hidden deep/er/est app/web; printf '#!/bin/sh\necho run\n' > bin/run; chmod +x bin/run
echo secret > private/key; echo h > hidden/only
echo file > flip; mkdir flop; echo in > flop/in
echo deep > deep/er/est/x
echo web > app/web/index.html; echo app > app/main
ln -s a.txt link; ln -s b.txt tofile`, "first", -1},
	{"one edit; VERSION's blob does not change, its export does", "", `echo b2 > b.txt`, incremental, 2},
	{"addition in a new directory", "", `mkdir -p new/dir; echo n > new/dir/n.txt`, incremental, 2},
	{"deletion empties a directory chain", "", `git rm -q -r deep`, incremental, 2},
	{"rename", "", `git mv a.txt c.txt`, incremental, 3},
	{"exec bit off", "", `chmod -x bin/run`, incremental, 2},
	{"exec bit on", "", `chmod +x bin/run`, incremental, 2},
	{"symlink retargeted", "", `rm link; ln -s c.txt link`, incremental, 2},
	{"file becomes a directory", "", `rm flip; mkdir flip; echo inner > flip/inner`, incremental, 3},
	{"directory becomes a file", "", `rm -r flop; echo now a file > flop`, incremental, 3},
	{"symlink becomes a file", "", `rm tofile; echo plain > tofile`, incremental, 2},
	{"file becomes a symlink", "", `rm tofile; ln -s c.txt tofile`, incremental, 2},
	{"an export-ignored file changes and is added", "", `echo s2 > private/key; echo h2 > hidden/more`, incremental, 1},
	{"the only file of a directory that stays in the tree", "", `git rm -q hidden/only`, incremental, 1},
	{"export-ignore added", "", `printf 'VERSION export-subst\nprivate export-ignore\nhidden/** export-ignore\nb.txt export-ignore\n' > .gitattributes`, "gitattributes", -1},
	{"after a full export, incremental again", "", `echo c2 > c.txt`, incremental, 2},
	{"export-ignore removed", "", `printf 'VERSION export-subst\nhidden/** export-ignore\n' > .gitattributes`, "gitattributes", -1},
	{"a nested .gitattributes", "", `echo 'index.html export-ignore' > app/web/.gitattributes`, "gitattributes", -1},
	{"nothing changes but the commit", "", `:`, incremental, 1},
	{"names git could read as pathspecs or options", "", `echo x > ':(glob)*'; echo y > 'sp ace'; echo z > '-n'; echo w > "$(printf 'new\nline')"`, incremental, 5},
	{"a directory with a newline in its name", "", `mkdir "$(printf 'nl\ndir')"; echo q > "$(printf 'nl\ndir')/f"`, incremental, 2},
	{"that directory is removed", "", `git rm -q -r "$(printf 'nl\ndir')"`, "newline", -1},
	{"a submodule is added", "", `mkdir sub; git update-index --add --cacheinfo "160000,$(git rev-parse HEAD),sub"`, incremental, 1},
	{"a submodule moves on, a name changes", "", `git update-index --add --cacheinfo "160000,$(git rev-parse HEAD),sub"; echo x2 > ':(glob)*'`, incremental, 2},
	{"a submodule is removed", "", `git update-index --force-remove sub; rmdir sub`, incremental, 1},
	{"subdir deploy: the subdir changed", "app", `echo web2 > app/web/index.html`, "subdir", -1},
	{"subdir deploy: a change outside it", "app", `echo c3 > c.txt`, incremental, 0},
	{"subdir deploy: a change inside it", "app", `echo app2 > app/main; mkdir app/lib; echo l > app/lib/l`, incremental, 2},
	{"back to the whole tree", "", `echo c4 > c.txt`, "subdir", -1},
}

// TestIncrementalExportsMatchGitArchive exports consecutive commits, each
// from the kept export of the one before, and checks that every tree is
// exactly git archive of its commit (contents, modes, symlink targets,
// directories, no extra paths), and that it was made incrementally where
// it can be and by a full git archive where it must be.
func TestIncrementalExportsMatchGitArchive(t *testing.T) {
	steps := exportSteps
	bare, step := scriptRepo(t)
	s := exportStore{dir: filepath.Join(t.TempDir(), "exports")}
	var prev *Manifest
	prevRel := ""
	for i, tc := range steps {
		commit := step(tc.script)
		rel := host.ReleaseName(i + 1)
		dir, m, st, err := s.export(context.Background(), bare, commit, tc.subdir, rel, prevRel, prev, int64(1_800_000_000+i), 0)
		if err != nil {
			t.Fatalf("%s: export: %v", tc.name, err)
		}
		compareWithArchive(t, tc.name, dir, bare, commit, tc.subdir)
		switch {
		case tc.full == incremental && st.From != prevRel:
			t.Errorf("%s: made from %q (full: %q), want from %s", tc.name, st.From, st.Full, prevRel)
		case tc.full == "first" && (st.From != "" || st.Full != ""):
			t.Errorf("%s: from %q, full %q; want a plain full export", tc.name, st.From, st.Full)
		case tc.full != incremental && tc.full != "first" && (st.From != "" || !strings.Contains(st.Full, tc.full)):
			t.Errorf("%s: from %q, full %q; want a full export because of %s", tc.name, st.From, st.Full, tc.full)
		}
		if tc.changed >= 0 && st.Changed != tc.changed {
			t.Errorf("%s: %d changed, want %d", tc.name, st.Changed, tc.changed)
		}
		wantSub := strings.HasPrefix(tc.name, "a submodule") && !strings.HasSuffix(tc.name, "removed")
		if got := strings.Join(st.Skipped, ","); wantSub && got != "sub" || !wantSub && got != "" {
			t.Errorf("%s: submodules %q reported, want %v", tc.name, got, wantSub)
		}
		if st.Files != len(m.Files) {
			t.Errorf("%s: %d files counted, manifest has %d", tc.name, st.Files, len(m.Files))
		}
		checkManifest(t, tc.name, dir, m)
		// Only the new tree is kept, with its manifest.
		if ents, _ := os.ReadDir(s.dir); len(ents) != 2 {
			t.Errorf("%s: %d entries in the exports directory, want %s and %s.json", tc.name, len(ents), rel, rel)
		}
		prev, prevRel = m, rel
	}
}

// TestIncrementalExportDistrustsDamagedBase: a kept tree that no longer
// matches its manifest, or is gone, is not used.
func TestIncrementalExportDistrustsDamagedBase(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		full   string
	}{
		{"content edited, size changed", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.txt"), "tampered\n")
		}, "damaged"},
		{"file removed", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "a.txt")) }, "damaged"},
		{"file added", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "extra"), "x") }, "damaged"},
		{"mode changed", func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, "a.txt"), 0o755) }, "damaged"},
		{"symlink retargeted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "link"))
			os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
		}, "damaged"},
		{"tree missing", func(t *testing.T, dir string) { os.RemoveAll(dir) }, "first"},
		{"manifest missing", func(t *testing.T, dir string) { os.Remove(dir + ".json") }, "first"},
		{"manifest unreadable", func(t *testing.T, dir string) { writeFile(t, dir+".json", "{") }, "unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bare, step := scriptRepo(t)
			s := exportStore{dir: filepath.Join(t.TempDir(), "exports")}
			c1 := step(`echo a > a.txt; echo b > b.txt; ln -s a.txt link`)
			dir, m, _, err := s.export(context.Background(), bare, c1, "", "v1", "", nil, 1_800_000_000, 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)
			c2 := step(`echo b2 > b.txt`)
			dir2, _, st, err := s.export(context.Background(), bare, c2, "", "v2", "v1", m, 1_800_000_001, 0)
			if err != nil {
				t.Fatal(err)
			}
			compareWithArchive(t, tc.name, dir2, bare, c2, "")
			if st.From != "" {
				t.Errorf("made from %s, want a full export", st.From)
			}
			if tc.full == "first" && st.Full != "" || tc.full != "first" && !strings.Contains(st.Full, tc.full) {
				t.Errorf("full export because %q, want %q", st.Full, tc.full)
			}
			// What is left of v1 is removed: only v2 and its manifest remain.
			if ents, _ := os.ReadDir(s.dir); len(ents) != 2 {
				t.Errorf("%d entries in the exports directory, want v2 and v2.json", len(ents))
			}
		})
	}
}

// TestIncrementalExportFollowsHostsMtimes: a file the new export takes
// over gets the mtime the hosts' release has for the same bytes, so that
// rsync --link-dest links it there, and a changed file a new one.
func TestIncrementalExportFollowsHostsMtimes(t *testing.T) {
	bare, step := scriptRepo(t)
	s := exportStore{dir: filepath.Join(t.TempDir(), "exports")}
	c1 := step(`echo a > a.txt; echo b > b.txt; echo c > c.txt; printf '#!/bin/sh\n' > run; ln -s a.txt link`)
	_, m1, _, err := s.export(context.Background(), bare, c1, "", "v1", "", nil, 1_800_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	c2 := step(`echo a2 > a.txt; chmod +x run; rm link; ln -s b.txt link`)
	// The hosts run a release in which b.txt has the same bytes under
	// another mtime, and c.txt other bytes under v1's mtime.
	prev := &Manifest{Commit: c1, Files: map[string]ManifestEntry{}}
	for p, e := range m1.Files {
		prev.Files[p] = e
	}
	b := prev.Files["b.txt"]
	b.MTime = 1_700_000_000
	prev.Files["b.txt"] = b
	c := prev.Files["c.txt"]
	c.OID = strings.Repeat("0", len(c.OID))
	prev.Files["c.txt"] = c
	dir2, m2, st, err := s.export(context.Background(), bare, c2, "", "v2", "v1", prev, 1_800_000_001, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.From != "v1" || st.Changed != 3 {
		t.Fatalf("from %q with %d changed (full: %s), want 3 from v1", st.From, st.Changed, st.Full)
	}
	compareWithArchive(t, "v2", dir2, bare, c2, "")
	checkManifest(t, "v2", dir2, m2)
	for name, want := range map[string]int64{"b.txt": 1_700_000_000, "c.txt": 1_800_000_001, "a.txt": 1_800_000_001, "run": 1_800_000_001} {
		if got := m2.Files[name].MTime; got != want {
			t.Errorf("%s has mtime %d, want %d", name, got, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(s.dir, "v1")); err == nil {
		t.Error("v1's export is still kept; v2 was made from it")
	}
}

// compareWithArchive checks that dir is git archive of commit (of its
// subdir), path by path.
func compareWithArchive(t *testing.T, name, dir, bare, commit, subdir string) {
	t.Helper()
	ref := gitArchive(t, bare, commit)
	if subdir != "" {
		ref = filepath.Join(ref, subdir)
	}
	got, want := hosttest.Tree(t, dir), hosttest.Tree(t, ref)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %s is %s, git archive has %s", name, p, orMissing(got[p]), w)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s is %s, git archive has no such path", name, p, g)
		}
	}
}

// checkManifest checks that every file of dir has the mtime and size its
// manifest gives, and that the manifest names nothing else.
func checkManifest(t *testing.T, name, dir string, m *Manifest) {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, p)
		e, ok := m.Files[filepath.ToSlash(rel)]
		switch {
		case !ok:
			t.Errorf("%s: %s is not in the manifest", name, rel)
		case fi.Mode().IsRegular() && (fi.ModTime().Unix() != e.MTime || fi.Size() != e.Size):
			t.Errorf("%s: %s has mtime %d size %d, manifest %d %d", name, rel, fi.ModTime().Unix(), fi.Size(), e.MTime, e.Size)
		}
		return nil
	})
	if n != len(m.Files) {
		t.Errorf("%s: %d files, manifest has %d", name, n, len(m.Files))
	}
}

func writeFile(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIncrementalExportAfterInfoAttributes: the repository's own
// info/attributes apply to every path, as .gitattributes do.
func TestIncrementalExportAfterInfoAttributes(t *testing.T) {
	bare, step := scriptRepo(t)
	s := exportStore{dir: filepath.Join(t.TempDir(), "exports")}
	c1 := step(`echo a > a.txt; echo b > b.txt`)
	_, m, _, err := s.export(context.Background(), bare, c1, "", "v1", "", nil, 1_800_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(bare, "info"), 0o755)
	writeFile(t, filepath.Join(bare, "info", "attributes"), "a.txt export-ignore\n")
	c2 := step(`echo b2 > b.txt`)
	dir, _, st, err := s.export(context.Background(), bare, c2, "", "v2", "v1", m, 1_800_000_001, 0)
	if err != nil {
		t.Fatal(err)
	}
	compareWithArchive(t, "v2", dir, bare, c2, "")
	if st.From != "" || !strings.Contains(st.Full, "info/attributes") {
		t.Errorf("from %q, full %q; want a full export because info/attributes changed", st.From, st.Full)
	}
}

// TestIncrementalExportOverLimit: a change that takes the tree over
// max_release_size is refused as a full export refuses it, before
// anything is written, and the kept export stays for the next push.
func TestIncrementalExportOverLimit(t *testing.T) {
	bare, step := scriptRepo(t)
	s := exportStore{dir: filepath.Join(t.TempDir(), "exports")}
	c1 := step(`echo a > a.txt`)
	_, m, _, err := s.export(context.Background(), bare, c1, "", "v1", "", nil, 1_800_000_000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c2 := step(`head -c 2097152 /dev/zero > big`)
	_, _, _, err = s.export(context.Background(), bare, c2, "", "v2", "v1", m, 1_800_000_001, 1<<20)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Written {
		t.Fatalf("export = %v, want a *TooLargeError found before writing", err)
	}
	c3 := step(`git rm -q big; echo a2 > a.txt`)
	dir, _, st, err := s.export(context.Background(), bare, c3, "", "v3", "v1", m, 1_800_000_002, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	compareWithArchive(t, "v3", dir, bare, c3, "")
	if st.From != "v1" {
		t.Errorf("v3 made from %q (full: %s), want from v1", st.From, st.Full)
	}
}
