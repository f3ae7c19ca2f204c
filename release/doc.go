// Package release is Slipway's deploy engine: release numbers and tags,
// export of a commit's tree, upload to hosts, the atomic switch of
// `current`, health checks, rollback and retention.
//
// It owns what happens on hosts and in the release history. It does not
// speak SSH to users or parse git's wire protocol; gitserver hands it a
// Request and an io.Writer for the pusher's terminal.
package release
