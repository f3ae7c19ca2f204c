package release

import (
	"io"
	"sync"
	"time"
)

// Observation is one thing a deploy did, told to Engine.Observe: a step
// that ended, a health check, or the outcome of the whole deploy.
type Observation struct {
	App, Env string
	Release  string
	// Kind is "step", "health" or "deploy".
	Kind string
	// Step names the step that ended (kind "step"): every Phase but the
	// waves, which are PhaseSwitch.
	Step Phase
	Host string // kind "health": the host checked
	// Outcome is, for kind "health", "ok" or "failed"; for kind "deploy",
	// OutcomeLive, OutcomePending or OutcomeFailed.
	Outcome  string
	Rollback bool // the deploy is a rollback (Request.Rollback)
	Duration time.Duration
}

// Observation kinds.
const (
	ObserveStep   = "step"
	ObserveHealth = "health"
	ObserveDeploy = "deploy"
)

// observer is what a deploy tells Engine.Tap and Engine.Observe. It never
// changes what the deploy does.
type observer struct {
	e        *Engine
	app, env string
	rollback bool

	mu         sync.Mutex
	phase      Phase
	phaseStart time.Time
	ended      bool
}

func (o *observer) send(ob Observation) {
	if o.e.Observe == nil {
		return
	}
	ob.App, ob.Env, ob.Rollback = o.app, o.env, o.rollback
	o.e.Observe(ob)
}

// enter marks the start of a phase and reports the duration of the one
// it ends. Waves ("wave 2/3") are reported as the step "switch".
func (o *observer) enter(phase Phase, rel string) {
	o.mu.Lock()
	prev, start := o.phase, o.phaseStart
	o.phase, o.phaseStart = phase, time.Now()
	o.mu.Unlock()
	if prev != "" {
		o.send(Observation{Kind: ObserveStep, Release: rel, Step: prev.Step(), Duration: time.Since(start)})
	}
}

func (o *observer) health(rel, host string, ok bool) {
	outcome := "ok"
	if !ok {
		outcome = OutcomeFailed
	}
	o.send(Observation{Kind: ObserveHealth, Release: rel, Host: host, Outcome: outcome})
}

// end reports the phase running and the outcome of the deploy, once.
func (o *observer) end(rel, outcome string, d time.Duration) {
	o.enter("", rel)
	o.mu.Lock()
	ended := o.ended
	o.ended = true
	o.mu.Unlock()
	if !ended {
		o.send(Observation{Kind: ObserveDeploy, Release: rel, Outcome: outcome, Duration: d})
	}
}

// tee writes to the pusher and to the tap; a write error on either side
// never stops the other.
type tee struct {
	out, tap io.Writer
}

func (t tee) Write(p []byte) (int, error) {
	t.out.Write(p)
	t.tap.Write(p)
	return len(p), nil
}
