package release

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/release/host"
)

// BenchmarkExport exports a one-file change of a large tree (the Go
// source tree of the toolchain that runs the benchmark, as a git
// repository) both ways, side by side: a full git archive, and from the
// kept export of the commit before. Run with
//
//	go test -run '^$' -bench Export -benchtime 5x ./release/
func BenchmarkExport(b *testing.B) {
	dir := b.TempDir()
	bare, c1, c2 := goSourceRepo(b, dir)
	ctx := context.Background()

	s := exportStore{dir: filepath.Join(dir, "exports")}
	_, m1, st, err := s.export(ctx, bare, c1, "", "v1", "", nil, 1_800_000_000, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("tree: %s, %s", count(st.Files, "file"), humanBytes(st.Bytes))

	b.Run("full", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			dest := filepath.Join(dir, "full", host.ReleaseName(i+2))
			if _, _, err := ExportDir(ctx, bare, c2, "", dest, m1, 1_800_000_001, 0); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(dest)
			b.StartTimer()
		}
	})
	b.Run("incremental", func(b *testing.B) {
		// Each round undoes the last: one changed file every time, from
		// the export the round before kept.
		prevRel, prev := "v1", m1
		for i := 0; b.Loop(); i++ {
			commit := c2
			if i%2 == 1 {
				commit = c1
			}
			rel := host.ReleaseName(i + 2)
			_, m, st, err := s.export(ctx, bare, commit, "", rel, prevRel, prev, int64(1_800_000_001+i), 0)
			if err != nil {
				b.Fatal(err)
			}
			if st.From != prevRel || st.Changed != 1 {
				b.Fatalf("exported from %q with %d changed (full: %s), want 1 from %s", st.From, st.Changed, st.Full, prevRel)
			}
			prevRel, prev = rel, m
		}
	})
}

// goSourceRepo makes a bare repository in dir of the Go source tree of
// the toolchain that runs the benchmark, with two commits that differ in
// one file.
func goSourceRepo(b *testing.B, dir string) (bare, c1, c2 string) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skipf("go env GOROOT: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	if _, err := os.Stat(src); err != nil {
		b.Skipf("no Go source tree at %s", src)
	}
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("git is not installed")
	}
	work := filepath.Join(dir, "work")
	bare = filepath.Join(dir, "app.git")
	sh := func(script string) string {
		b.Helper()
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SRC="+src, "WORK="+work, "BARE="+bare, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=A", "GIT_COMMITTER_EMAIL=a@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", script, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	c1 = sh(`cp -r "$SRC" "$WORK" && cd "$WORK" && git init -q -b main && git add -A && git commit -q -m one &&
git init -q --bare "$BARE" && git push -q "$BARE" main && git rev-parse HEAD`)
	c2 = sh(`cd "$WORK" && echo '// one more line' >> fmt/print.go && git commit -q -am two && git push -q "$BARE" main && git rev-parse HEAD`)
	return bare, c1, c2
}
