package release

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slipwayhq/slipway/internal/durable"
)

// What a daemon started in its group is stopped by the next start, and
// the record goes; a record whose id now names another process is left
// alone.
func TestStopLeftovers(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to tell processes apart")
	}
	dir := t.TempDir()
	g, err := StartProcGroup(dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "600")
	if err := g.Start(child); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()

	// The daemon dies: its anchor goes, the child stays, and so does the
	// record. The next start stops the child.
	g.Close()
	if _, err := os.Stat(childrenFile(dir)); err != nil {
		t.Fatalf("the record went while a child runs: %v", err)
	}
	n, err := StopLeftovers(context.Background(), dir)
	if err != nil || n != 1 {
		t.Fatalf("StopLeftovers = %d, %v; want 1 group stopped", n, err)
	}
	if err := <-done; err == nil {
		t.Error("the child exited 0; it should have been stopped")
	}
	if _, err := os.Stat(childrenFile(dir)); !os.IsNotExist(err) {
		t.Errorf("the record is still there: %v", err)
	}

	// A process that got a recorded id later is not ours.
	other := exec.Command("sleep", "600")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		other.Process.Kill()
		other.Wait()
	}()
	data, _ := json.Marshal(procRecords{Groups: []procGroupRecord{{PGID: other.Process.Pid, Start: "1"}}})
	if err := durable.WriteFile(childrenFile(dir), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := StopLeftovers(context.Background(), dir); err != nil || n != 0 {
		t.Fatalf("StopLeftovers = %d, %v; want nothing stopped", n, err)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("process %s was stopped: %v", strconv.Itoa(other.Process.Pid), err)
	}
}

// A damaged record stops the start: what runs cannot be told.
func TestStopLeftoversDamagedRecord(t *testing.T) {
	dir := t.TempDir()
	if err := durable.WriteFile(childrenFile(dir), []byte(`{"groups":[{"pg`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := StopLeftovers(context.Background(), dir)
	if fe, ok := err.(*FileError); !ok || fe.Kind != KindChildren {
		t.Fatalf("StopLeftovers = %v; want a damaged process record", err)
	}
}
