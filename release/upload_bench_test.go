//go:build unix

package release

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipwayhq/slipway/release/host"
)

// BenchmarkUpload uploads a one-file change of a large tree (the Go
// source tree, see goSourceRepo) to a host running the release before,
// both ways, side by side, on the local transport and over ssh to a real
// sshd: comparing the whole tree (rsync --link-dest), and a hard-link copy
// of the running release plus the changed paths. Run with
//
//	go test -run '^$' -bench Upload -benchtime 5x ./release/
func BenchmarkUpload(b *testing.B) {
	needRsync(b)
	dir := b.TempDir()
	bare, c1, c2 := goSourceRepo(b, dir)
	ctx := context.Background()
	s := exportStore{dir: filepath.Join(dir, "exports")}
	export := func(commit, rel, from string, prev *Manifest) (string, *Manifest) {
		src, m, _, err := s.export(ctx, bare, commit, "", rel, from, prev, 1_800_000_000, 0)
		if err != nil {
			b.Fatal(err)
		}
		if m.Dirs, err = treeDirs(src); err != nil {
			b.Fatal(err)
		}
		m.Exact = true
		return src, m
	}
	// v1 on every host, then v2 exported from it.
	src1, m1 := export(c1, "v1", "", nil)
	hosts := make([]host.Host, len(hostTransports))
	dirs := make([]string, len(hostTransports))
	for i, tr := range hostTransports {
		hosts[i], dirs[i] = tr.make(b, "app")
		if _, err := hosts[i].Upload(ctx, src1, "v1", "", nil); err != nil {
			b.Fatal(err)
		}
	}
	src2, m2 := export(c2, "v2", "v1", m1)
	changed, ok := Changes(m1, m2)
	if !ok {
		b.Fatal("no proportional upload from v1")
	}
	b.Logf("tree: %s; %d paths to send", count(len(m2.Files), "file"), len(changed))
	for i, tr := range hostTransports {
		for _, way := range []struct {
			name    string
			changed []string
		}{{"full", nil}, {"proportional", changed}} {
			b.Run(tr.name+"/"+way.name, func(b *testing.B) {
				for n := 0; b.Loop(); n++ {
					rel := host.ReleaseName(n + 2)
					st, err := hosts[i].Upload(ctx, src2, rel, "v1", way.changed)
					if err != nil {
						b.Fatal(err)
					}
					if st.Files != 1 || (st.From == "v1") != (way.changed != nil) {
						b.Fatalf("upload sent %d files from %q", st.Files, st.From)
					}
					b.StopTimer()
					if err := os.RemoveAll(filepath.Join(dirs[i], "releases", rel)); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}
