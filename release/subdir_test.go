package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// monorepo commits two services and attributes both at the root and in
// the subdirectory, which an export of services/api must both honour.
func monorepo(t *testing.T) (bare string, commit func(files map[string]string, msg string) string, c1 string) {
	bare, commit = gitRepo(t)
	c1 = commit(map[string]string{
		".gitattributes":              "services/api/VERSION export-subst\n",
		"README":                      "top",
		"services/api/.gitattributes": "secret.txt export-ignore\nbig export-ignore\n",
		"services/api/VERSION":        "$Format:%H$\n",
		"services/api/app.txt":        "api",
		"services/api/lib/util.txt":   "util",
		"services/api/secret.txt":     "not for hosts",
		"services/web/index.html":     "web",
	}, "Two services")
	return bare, commit, c1
}

func TestExportDirExportsOnlyTheSubdir(t *testing.T) {
	bare, commit, c1 := monorepo(t)
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "v1")
	m, st, err := ExportDir(ctx, bare, c1, "services/api", dest, nil, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dest, p)
			got = append(got, rel)
		}
		return nil
	})
	sort.Strings(got)
	want := []string{".gitattributes", "VERSION", "app.txt", "lib/util.txt"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("release root holds %v, want %v (the subdir's files, without export-ignore ones)", got, want)
	}
	if st.Files != len(want) || len(m.Files) != len(want) {
		t.Errorf("exported %d files, manifest %d, want %d", st.Files, len(m.Files), len(want))
	}
	for _, name := range want {
		if _, ok := m.Files[name]; !ok {
			t.Errorf("manifest has no %s (paths must be relative to the subdir): %v", name, m.Files)
		}
	}
	// The root's .gitattributes applies: git archive saw the commit.
	if v, _ := os.ReadFile(filepath.Join(dest, "VERSION")); strings.TrimSpace(string(v)) != c1 {
		t.Errorf("VERSION = %q, want the commit id %s (export-subst)", v, c1)
	}

	// A change outside the subdir: every file keeps its mtime but VERSION,
	// whose exported bytes name the new commit.
	c2 := commit(map[string]string{"services/web/index.html": "web 2"}, "Web only")
	dest2 := filepath.Join(t.TempDir(), "v2")
	m2, _, err := ExportDir(ctx, bare, c2, "services/api", dest2, m, 2000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range m2.Files {
		changed := e.MTime != m.Files[name].MTime
		if changed != (name == "VERSION") {
			t.Errorf("%s: mtime %d, was %d; only VERSION should be sent again", name, e.MTime, m.Files[name].MTime)
		}
	}
}

func TestExportDirSizeLimitCountsTheSubdirOnly(t *testing.T) {
	bare, commit, _ := monorepo(t)
	ctx := context.Background()
	big := strings.Repeat("x", 4096)
	c := commit(map[string]string{
		"services/web/huge":    big + big,  // outside the subdir
		"services/api/big":     big,        // export-ignore in the subdir
		"services/api/big.txt": big[:3000], // counted
	}, "Sizes")
	if _, _, err := ExportDir(ctx, bare, c, "services/api", filepath.Join(t.TempDir(), "ok"), nil, 0, 3100); err != nil {
		t.Errorf("export within the limit refused: %v", err)
	}
	_, _, err := ExportDir(ctx, bare, c, "services/api", filepath.Join(t.TempDir(), "big"), nil, 0, 2048)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Subdir != "services/api" || !strings.HasPrefix(tl.Error(), "services/api in ") {
		t.Errorf("err = %v, want a TooLargeError about services/api", err)
	}
}

func TestSubdirTree(t *testing.T) {
	bare, commit, c1 := monorepo(t)
	ctx := context.Background()
	c2 := commit(map[string]string{"services/web/index.html": "web 2"}, "Web only")
	tests := []struct {
		dir  string
		kind string // "tree" for a directory, else the SubdirError's Kind
	}{
		{"services/api", "tree"},
		{"services", "tree"},
		{"services/api/app.txt", "blob"},
		{"services/nope", ""},
		{"services/*", ""}, // no pattern matching
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			tree, err := SubdirTree(ctx, bare, c1, tt.dir)
			var se *SubdirError
			switch {
			case tt.kind == "tree" && (err != nil || len(tree) != len(c1)):
				t.Errorf("SubdirTree = %q, %v; want a tree id", tree, err)
			case tt.kind != "tree" && (!errors.As(err, &se) || se.Kind != tt.kind):
				t.Errorf("SubdirTree = %q, %v; want a SubdirError of kind %q", tree, err, tt.kind)
			}
		})
	}
	a1, _ := SubdirTree(ctx, bare, c1, "services/api")
	a2, _ := SubdirTree(ctx, bare, c2, "services/api")
	w1, _ := SubdirTree(ctx, bare, c1, "services/web")
	w2, _ := SubdirTree(ctx, bare, c2, "services/web")
	if a1 != a2 || w1 == w2 {
		t.Errorf("a web-only commit: api %s → %s, web %s → %s; want api unchanged, web changed", a1, a2, w1, w2)
	}
}
