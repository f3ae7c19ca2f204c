// Package web serves the read-only dashboard and the Prometheus metrics
// on the [http] listener: what every environment runs, each host's last
// health, pending approvals, recent releases, and the lines of running
// deploys as the pusher reads them (Hub). It owns nothing on disk: it reads
// the history, DATA/state and DATA/pending through the release package.
// On request (?check=APP/ENV) it asks an environment's hosts now through
// Engine.CheckLive, which only reads them and runs the health check. It
// must not change anything, start or approve a deploy, or show a secret
// value, a key or a secret's name.
package web
