// Package lifecycle runs the operator's lifecycle commands (build, install,
// migrate, after-switch) and health checks, and decides pass or fail with
// retries and per-attempt timeouts. It knows nothing about hosts: callers pass
// a Runner that makes one attempt, here or over SSH. It must never build a
// shell line from values: commands run as `sh -c <command>` exactly as the
// operator wrote them, and everything else reaches them through the
// environment. Output bound for a pusher or a log goes through an Output
// (masked, lines cut, memory bounded) and Tail from here first.
package lifecycle
