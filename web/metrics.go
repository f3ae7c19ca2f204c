package web

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/slipwayhq/slipway/release"
)

// Metrics counts what deploys do (Observe, set as Engine.Observe) and, at
// every scrape, reads the state of each environment and the DORA measures
// from the history (see dora). Counters start at zero with the daemon;
// what is read from the history survives restarts.
type Metrics struct {
	Registry *prometheus.Registry

	deploys   *prometheus.CounterVec
	rollbacks *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	steps     *prometheus.HistogramVec
	health    *prometheus.CounterVec
}

// Buckets for deploy and step durations, in seconds: from a quick local
// switch to a long build.
var durationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}

// NewMetrics registers Slipway's metrics, the Go runtime's and the
// process's, and a collector that reads src at scrape time. now is the
// clock the DORA window is measured against (time.Now when nil).
func NewMetrics(src *Source, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	envLabels := []string{"app", "env"}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_deploys_total",
			Help: "Deploys that ended since the daemon started, by outcome: live, pending (staged for approval) or failed.",
		}, append(envLabels, "outcome")),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_rollbacks_total",
			Help: "Rollbacks (git push +vN:rollback, ssh rollback) that ended since the daemon started, by outcome: live or failed.",
		}, append(envLabels, "outcome")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_deploy_duration_seconds",
			Help:    "How long deploys and rollbacks took, from the lock to the outcome.",
			Buckets: durationBuckets,
		}, append(envLabels, "outcome")),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_step_duration_seconds",
			Help:    "How long each step of a deploy took: export, build, upload, migrate, switch (one wave, with its health checks), watch, rollback.",
			Buckets: durationBuckets,
		}, append(envLabels, "step")),
		health: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_health_checks_total",
			Help: "Health checks of a host after its switch or while watching, by result: ok or failed.",
		}, append(envLabels, "result")),
	}
	m.Registry.MustRegister(m.deploys, m.rollbacks, m.duration, m.steps, m.health,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{src: src, now: now})
	return m
}

// Observe records one observation of a deploy.
func (m *Metrics) Observe(o release.Observation) {
	switch o.Kind {
	case release.ObserveDeploy:
		if o.Rollback {
			m.rollbacks.WithLabelValues(o.App, o.Env, o.Outcome).Inc()
		} else {
			m.deploys.WithLabelValues(o.App, o.Env, o.Outcome).Inc()
		}
		m.duration.WithLabelValues(o.App, o.Env, o.Outcome).Observe(o.Duration.Seconds())
	case release.ObserveStep:
		m.steps.WithLabelValues(o.App, o.Env, string(o.Step)).Observe(o.Duration.Seconds())
	case release.ObserveHealth:
		m.health.WithLabelValues(o.App, o.Env, o.Outcome).Inc()
	}
}

// stateCollector reads, at scrape time, what each environment runs, its
// locks and pending releases, and the DORA measures of its history.
type stateCollector struct {
	src *Source
	now func() time.Time
}

var (
	envLabels       = []string{"app", "env"}
	descHosts       = prometheus.NewDesc("slipway_hosts", "Hosts of an environment by the release their current points to, as last seen (DATA/state); release is \"none\" or \"unknown\" when there is none or it could not be read.", append(envLabels, "release"), nil)
	descHostHealthy = prometheus.NewDesc("slipway_host_healthy", "The last health check of a host: 1 ok, 0 failed; absent when not checked.", append(envLabels, "host"), nil)
	descLive        = prometheus.NewDesc("slipway_live_release", "The number N of the live release vN of an environment; absent before its first.", envLabels, nil)
	descLocked      = prometheus.NewDesc("slipway_deploy_in_progress", "1 while a deploy or rollback holds the environment's lock.", envLabels, nil)
	descPending     = prometheus.NewDesc("slipway_pending_approval", "1 while a release is staged and waiting for approval.", envLabels, nil)
	descReleases    = prometheus.NewDesc("slipway_releases", "Releases in the history, by their outcome now (live, superseded, failed, rolled-back, interrupted, pending).", append(envLabels, "outcome"), nil)
	descDeployFreq  = prometheus.NewDesc("slipway_dora_deployment_frequency_per_day", "DORA deployment frequency: deploys that went live in the last 30 days, per day (from the history; rollbacks are not deploys).", envLabels, nil)
	descLeadTime    = prometheus.NewDesc("slipway_dora_lead_time_seconds", "DORA lead time for changes: median time from commit to live over the last 30 days.", envLabels, nil)
	descFailureRate = prometheus.NewDesc("slipway_dora_change_failure_ratio", "DORA change failure rate over the last 30 days: changes that failed or were rolled back, over all changes (rejected approvals are no change).", envLabels, nil)
	descRestore     = prometheus.NewDesc("slipway_dora_time_to_restore_seconds", "DORA time to restore service: median over the last 30 days of a failed deploy's start to its rollback, or a bad release's going live to the rollback that replaced it.", envLabels, nil)
	descScrapeError = prometheus.NewDesc("slipway_history_read_errors", "Apps whose history could not be read at this scrape (the server log has details).", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHosts, descHostHealthy, descLive, descLocked, descPending,
		descReleases, descDeployFreq, descLeadTime, descFailureRate, descRestore, descScrapeError} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	locks := c.src.Engine.Locks()
	errors := 0
	now := c.now()
	for _, app := range c.src.apps(c.src.Config()) {
		h, err := c.src.history(ctx, app.Name)
		if err != nil {
			errors++
			c.src.Engine.Log.Warn().Err(err).Str("app", app.Name).Msg("metrics: cannot read the history")
			h = &history{}
		}
		measures := doraByEnv(h.rels, h.commitTimes, now)
		for _, env := range sortedEnvs(app) {
			a, e := app.Name, env.Name
			_, locked := locks[a+"/"+e]
			gauge(descLocked, b2f(locked), a, e)
			p, _ := c.src.Engine.PendingRelease(a, e)
			gauge(descPending, b2f(p != nil), a, e)
			if live := release.LiveRelease(h.rels, e); live != nil {
				gauge(descLive, float64(live.Number), a, e)
			}
			outcomes := map[string]int{}
			for _, r := range h.rels {
				if r.Env == e {
					outcomes[r.Outcome]++
				}
			}
			for o, n := range outcomes {
				gauge(descReleases, float64(n), a, e, o)
			}
			if st, err := c.src.Engine.State(a, e); err == nil {
				byRelease := map[string]int{}
				for _, name := range env.Hosts {
					hs, ok := st.Hosts[name]
					if !ok {
						continue
					}
					cur := hs.Current
					if cur == "" {
						cur = "none"
					}
					byRelease[cur]++
					switch {
					case hs.Health == "ok":
						gauge(descHostHealthy, 1, a, e, name)
					case strings.HasPrefix(hs.Health, "failed"):
						gauge(descHostHealthy, 0, a, e, name)
					}
				}
				for rel, n := range byRelease {
					gauge(descHosts, float64(n), a, e, rel)
				}
			}
			d := measures[e]
			gauge(descDeployFreq, float64(d.Deploys)/(doraWindow.Hours()/24), a, e)
			if d.hasLead {
				gauge(descLeadTime, d.LeadTime.Seconds(), a, e)
			}
			if r, ok := d.FailureRate(); ok {
				gauge(descFailureRate, r, a, e)
			}
			if d.hasRestoreTime {
				gauge(descRestore, d.TimeToRestore.Seconds(), a, e)
			}
		}
	}
	gauge(descScrapeError, float64(errors))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
