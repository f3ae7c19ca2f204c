package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/transport/local"
)

// FakeHost is a host.Host whose methods call the function fields, for tests of
// the engine's own logic (waves, switch-back, prune, settle) without
// processes or network. A nil field does nothing and returns zero values.
type FakeHost struct {
	HostName        string
	OpenFunc        func(ctx context.Context) (host.Info, error)
	UploadFunc      func(ctx context.Context, src, rel, linkDest string) (host.UploadStats, error)
	SwitchFunc      func(ctx context.Context, rel string, keep int) (host.SwitchResult, error)
	RunFunc         func(ctx context.Context, rel, command string, env []string, out io.Writer) error
	AttachFunc      func(ctx context.Context, rel, command string, env []string, out io.Writer) error
	WriteSharedFunc func(ctx context.Context, name string, data []byte) error
	RemoveFunc      func(ctx context.Context, rel string) error
	CloseFunc       func() error
}

var _ host.Host = (*FakeHost)(nil)

func (f *FakeHost) Name() string    { return f.HostName }
func (f *FakeHost) Address() string { return "127.0.0.1" }

func (f *FakeHost) Probe(context.Context) (host.Probe, error) {
	return host.Probe{}, errors.New("a fake host has nothing to probe")
}

func (f *FakeHost) Open(ctx context.Context) (host.Info, error) {
	if f.OpenFunc == nil {
		return host.Info{}, nil
	}
	return f.OpenFunc(ctx)
}

func (f *FakeHost) Upload(ctx context.Context, src, rel, linkDest string, changed []string) (host.UploadStats, error) {
	if f.UploadFunc == nil {
		return host.UploadStats{}, nil
	}
	return f.UploadFunc(ctx, src, rel, linkDest)
}

func (f *FakeHost) Switch(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
	if f.SwitchFunc == nil {
		return host.SwitchResult{}, nil
	}
	return f.SwitchFunc(ctx, rel, keep)
}

func (f *FakeHost) Run(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	if f.RunFunc == nil {
		return nil
	}
	return f.RunFunc(ctx, rel, command, env, out)
}

func (f *FakeHost) Attach(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	if f.AttachFunc == nil {
		return nil
	}
	return f.AttachFunc(ctx, rel, command, env, out)
}

func (f *FakeHost) WriteShared(ctx context.Context, name string, data []byte) error {
	if f.WriteSharedFunc == nil {
		return nil
	}
	return f.WriteSharedFunc(ctx, name, data)
}

func (f *FakeHost) Remove(ctx context.Context, rel string) error {
	if f.RemoveFunc == nil {
		return nil
	}
	return f.RemoveFunc(ctx, rel)
}

func (f *FakeHost) Close() error {
	if f.CloseFunc == nil {
		return nil
	}
	return f.CloseFunc()
}

// errFake is the failure a test injects.
var errFake = errors.New("injected failure")

// memHost is a FakeHost that keeps a host's state in memory the way the
// Host contract describes it (Switch moves current, Remove refuses the
// live release) and records the calls that change it. Tests replace a
// field of its FakeHost to inject a failure, calling the memHost's own
// method for the normal case.
type memHost struct {
	FakeHost

	mu       sync.Mutex
	current  string
	releases []string // oldest first
	switches []string // every release Switch was asked for, in order
	removed  []string // every release Remove deleted, in order
}

// newMemHost returns a host called name that runs current and holds
// releases (oldest first).
func newMemHost(name, current string, releases ...string) *memHost {
	h := &memHost{current: current, releases: slices.Clone(releases)}
	h.FakeHost = FakeHost{
		HostName:   name,
		OpenFunc:   h.open,
		UploadFunc: h.upload,
		SwitchFunc: h.doSwitch,
		RemoveFunc: h.remove,
	}
	return h
}

func (h *memHost) open(context.Context) (host.Info, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return host.Info{Current: h.current, Releases: slices.Clone(h.releases)}, nil
}

func (h *memHost) upload(_ context.Context, _, rel, _ string) (host.UploadStats, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.releases, rel) {
		h.releases = append(h.releases, rel)
	}
	return host.UploadStats{Files: 1}, nil
}

// doSwitch prunes through h.Remove, so that a test can make a removal
// fail; like the real hosts, it skips a release it cannot remove.
func (h *memHost) doSwitch(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
	h.mu.Lock()
	h.switches = append(h.switches, rel)
	if rel != "" && !slices.Contains(h.releases, rel) {
		h.mu.Unlock()
		return host.SwitchResult{}, fmt.Errorf("releases/%s: %w", rel, host.ErrNotOnHost)
	}
	res := host.SwitchResult{Previous: h.current}
	h.current = rel
	rels := slices.Clone(h.releases)
	h.mu.Unlock()
	res.Removed = host.Prune(rels, keep, rel, res.Previous, func(r string) error { return h.Remove(ctx, r) })
	h.mu.Lock()
	res.Releases = slices.Clone(h.releases)
	h.mu.Unlock()
	return res, nil
}

func (h *memHost) remove(_ context.Context, rel string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rel == h.current {
		return fmt.Errorf("releases/%s is live", rel)
	}
	if i := slices.Index(h.releases, rel); i >= 0 {
		h.releases = slices.Delete(h.releases, i, i+1)
		h.removed = append(h.removed, rel)
	}
	return nil
}

// state returns what the host runs and holds, and the calls it got.
func (h *memHost) state() (current string, releases, switches, removed []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current, slices.Clone(h.releases), slices.Clone(h.switches), slices.Clone(h.removed)
}

// localHosts is the Engine.Connect of tests that deploy to the host
// "local" only, on this machine.
func localHosts(_ context.Context, env *config.Environment, name string) (host.Host, error) {
	if name != config.LocalHost {
		return nil, fmt.Errorf("host %s: this test deploys to local only", name)
	}
	return local.New(env.Path, nil), nil
}
