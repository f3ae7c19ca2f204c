package release

import (
	"context"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/release/host"
)

// HostState is what Slipway last saw of a host in one environment.
type HostState struct {
	Current  string    `json:"current"`            // release current points to; "" none; "unknown" when it could not be told
	Health   string    `json:"health"`             // "ok", "failed: <reason>", "not checked"
	Releases []string  `json:"releases,omitempty"` // release directories on the host
	Seen     time.Time `json:"seen"`
}

// EnvState is the last seen state of an environment's hosts.
type EnvState struct {
	Hosts map[string]HostState `json:"hosts"`
}

func (e *Engine) stateFile(app, env string) string {
	return filepath.Join(e.DataDir, "state", app, env+".json")
}

// State returns the last seen state of app/env (empty before any deploy).
// A state file that cannot be read is a *FileError, never an empty state:
// "never seen" would be a wrong answer.
func (e *Engine) State(app, env string) (*EnvState, error) {
	st := &EnvState{Hosts: map[string]HostState{}}
	if _, err := readJSON(e.stateFile(app, env), KindState, st); err != nil {
		return nil, err
	}
	if st.Hosts == nil {
		st.Hosts = map[string]HostState{}
	}
	return st, nil
}

// saveState records, after a deploy, what every host runs.
func (d *deploy) saveState(ctx context.Context) {
	app, env := d.req.App.Name, d.req.Env.Name
	st, err := d.e.State(app, env)
	if err != nil {
		// What this deploy learns below replaces the damaged file.
		d.log.Warn().Err(err).Msg("host state file unreadable; writing it afresh")
		st = &EnvState{Hosts: map[string]HostState{}}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	seen, _ := each(sctx, d.hosts, d.parallelism(), func(ctx context.Context, h host.Host) (HostState, error) {
		hs := HostState{Current: "unknown", Health: "not checked", Seen: time.Now().UTC()}
		d.mu.Lock()
		known, ok := d.seen[h.Name()]
		d.mu.Unlock()
		if ok {
			hs.Current, hs.Releases = known.Current, known.Releases
		} else if info, err := h.Open(ctx); err == nil {
			hs.Current, hs.Releases = info.Current, info.Releases
		}
		d.mu.Lock()
		if r, ok := d.healthResult[h.Name()]; ok {
			hs.Health = r
		}
		d.mu.Unlock()
		return hs, nil
	})
	for i, h := range d.hosts {
		st.Hosts[h.Name()] = seen[i]
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = durable.WriteFile(d.e.stateFile(app, env), data, 0o644)
	}
	if err != nil {
		d.bookkeepingFailed("cannot save the host state", err)
	}
}
