// Package e2e runs the end-to-end scripts in testdata/script against the real
// slipway binary, built with the race detector, driven by the real git, ssh,
// sshd and rsync programs the way an operator and a developer would use them.
// It must never replace any of those programs with fakes or in-process
// stand-ins: a script that passes here is a push that works for users.
package e2e
