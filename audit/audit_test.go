package audit

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestAppendAndRead(t *testing.T) {
	l := Open(filepath.Join(t.TempDir(), "audit", "audit.log"))
	if recs, err := l.Read(0, nil); err != nil || len(recs) != 0 {
		t.Fatalf("Read of a missing log = %v, %v; want nothing", recs, err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			app := "shop"
			if i%2 == 1 {
				app = "blog"
			}
			if err := l.Append(Record{Event: "push", User: "alice", App: app}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	all, err := l.Read(0, nil)
	if err != nil || len(all) != 20 {
		t.Fatalf("Read = %d records, %v; want 20", len(all), err)
	}
	shop, _ := l.Read(3, func(r Record) bool { return r.App == "shop" })
	if len(shop) != 3 {
		t.Errorf("Read(3, shop) = %d records, want 3", len(shop))
	}
	for _, r := range shop {
		if r.App != "shop" || r.Time.IsZero() {
			t.Errorf("record %+v: want app shop and a time", r)
		}
	}
	fi, _ := os.Stat(l.path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestReadNewestFirstSkipsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(path, []byte(`{"event":"push","detail":"first"}`+"\nnot json\n"+`{"event":"push","detail":"second"}`+"\n"), 0o600)
	recs, err := Open(path).Read(0, nil)
	if err != nil || len(recs) != 2 || recs[0].Detail != "second" {
		t.Fatalf("Read = %+v, %v; want second then first", recs, err)
	}
}
