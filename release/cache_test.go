package release

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestClearCache(t *testing.T) {
	e := &Engine{Connect: localHosts, DataDir: t.TempDir()}
	if st, err := e.ClearCache("shop", "production", "alice"); err != nil || st.Files != 0 {
		t.Fatalf("ClearCache of a cache never made = %v, %v; want nothing, no error", st, err)
	}
	dir, err := e.ensureCache("shop", "production")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory %v, %v; want mode 0700", fi.Mode(), err)
	}
	// Go's module cache makes its directories read-only.
	mod := filepath.Join(dir, "go", "mod", "example.com@v1.0.0")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "runs"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{mod, filepath.Dir(mod)} {
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
	}

	unlock, err := e.lock("shop", "production", "bob")
	if err != nil {
		t.Fatal(err)
	}
	var locked *LockedError
	if _, err := e.ClearCache("shop", "production", "alice"); !errors.As(err, &locked) || locked.Holder.User != "bob" {
		t.Errorf("ClearCache during bob's deploy = %v, want a LockedError naming bob", err)
	}
	unlock()

	st, err := e.ClearCache("shop", "production", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 2 || st.Bytes != 21 || st.String() != "21 B in 2 files" {
		t.Errorf("cleared %+v (%s), want 2 files, 21 B", st, st)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache directory still there after clear: %v", err)
	}
}
