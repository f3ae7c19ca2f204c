// Package shell quotes values for sh, so that what a pusher or an
// operator wrote reaches a remote shell as one word and is never parsed.
package shell

import "strings"

// Quote quotes s as one word for sh.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
