// Package release is Slipway's deploy engine: release numbers and tags,
// export of a commit's tree, upload to hosts, the atomic switch of
// `current`, health checks, rollback and retention.
//
// It owns the release history and decides what happens on hosts; how a
// host is reached is a transport's (release/transport), behind host.Host
// (release/host), given to the engine as Engine.Connect. It does not speak
// SSH to users or parse git's wire protocol; gitserver hands it a Request
// and an io.Writer for the pusher's terminal.
package release
