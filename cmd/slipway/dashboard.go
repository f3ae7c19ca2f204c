package main

import (
	"context"
	"fmt"
	"net"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/gitserver"
	"github.com/slipwayhq/slipway/release"
	"github.com/slipwayhq/slipway/web"
)

// startDashboard serves the dashboard and /metrics on [http] listen, if
// set, until the returned stop is called; url is "" when it is off. The
// built-in configuration asks for 127.0.0.1:8080: when that port is
// taken, the daemon runs without a dashboard rather than not at all.
func startDashboard(cfg *config.Config, embedded bool, srv *gitserver.Server, engine *release.Engine, log zerolog.Logger) (url string, stop func(), err error) {
	if cfg.HTTP.Listen == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		if embedded {
			log.Warn().Err(err).Msg("dashboard not started: its port is taken")
			return "", func() {}, nil
		}
		return "", nil, fmt.Errorf("listen on %s for the dashboard ([http] listen): %w", cfg.HTTP.Listen, err)
	}
	src := &web.Source{Config: srv.Config, Engine: engine, DataDir: cfg.DataDir}
	hub := web.NewHub()
	metrics := web.NewMetrics(src, nil)
	engine.Tap, engine.Observe = hub.Tap, metrics.Observe
	dash := web.NewServer(src, hub, metrics, log, versionString())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := dash.Serve(ctx, ln); err != nil {
			log.Error().Err(err).Msg("dashboard stopped")
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	url = "http://" + net.JoinHostPort(host, port) + "/"
	log.Info().Str("listen", ln.Addr().String()).Bool("token", cfg.HTTP.Token != "").Msg("dashboard serving")
	return url, func() { cancel(); <-done }, nil
}
