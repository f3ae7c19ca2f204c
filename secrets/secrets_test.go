package secrets

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s := Open(dir)
	if err := s.Set("shop", "production", "DB_PASSWORD", "hunter2\nsecond line"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("shop", "production", "API_KEY", "k"); err != nil {
		t.Fatal(err)
	}
	names, err := s.Names("shop", "production")
	if err != nil || !reflect.DeepEqual(names, []string{"API_KEY", "DB_PASSWORD"}) {
		t.Fatalf("Names = %v, %v", names, err)
	}
	m, _ := s.Get("shop", "production")
	if m["DB_PASSWORD"] != "hunter2\nsecond line" {
		t.Errorf("value did not round-trip: %q", m["DB_PASSWORD"])
	}
	if other, _ := s.Get("shop", "staging"); len(other) != 0 {
		t.Errorf("staging sees production's secrets: %v", other)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "shop", "production.json"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	if ok, _ := s.Unset("shop", "production", "API_KEY"); !ok {
		t.Error("Unset of an existing secret reported false")
	}
	if ok, _ := s.Unset("shop", "production", "API_KEY"); ok {
		t.Error("Unset of a missing secret reported true")
	}
	for _, bad := range []string{"", "1X", "A-B", "SLIPWAY_TOKEN", "A B", "A=B"} {
		if err := s.Set("shop", "production", bad, "v"); err == nil {
			t.Errorf("Set accepted the name %q", bad)
		}
	}
}
