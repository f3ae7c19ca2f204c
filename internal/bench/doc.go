// Package bench measures deploys end to end: the real slipway binary, git,
// ssh, rsync and sshd hosts on loopback (internal/sshrig), run side by side
// with a hand-written shell deploy (git archive, rsync --link-dest, ssh) on
// the same hosts, and reported as ratios. `make bench` runs it; the results
// and the goals they are held against are in docs/benchmarks.md.
package bench
