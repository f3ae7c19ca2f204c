// Package notify delivers deploy events to the operator's webhooks
// ([[notify]] in slipway.toml): one JSON POST per event, with a
// Slack-compatible text field, from a bounded queue, retried with
// backoff. It must never block or fail a deploy, and never show a
// webhook's URL beyond its scheme and host: the URL is a secret.
package notify
