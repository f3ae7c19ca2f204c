package gitserver

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/slipwayhq/slipway/config"
)

// whoami handles `whoami`: the user the signing key belongs to, its role
// and what it may do.
func (c *command) whoami(ctx context.Context, stdin io.Reader, args []string) int {
	cfg := c.s.Config()
	fmt.Fprintf(c.out, "user:   %s\nrole:   %s\nkey:    %s\n", c.id.User, roleOf(cfg, c.id.User), c.id.Key)
	var can []string
	for _, a := range sortedKeys(cfg.Apps) {
		app := cfg.Apps[a]
		name := a
		if a == config.TemplateApp {
			name = "every other app"
		}
		for _, e := range sortedEnvs(app) {
			if cfg.CanDeploy(c.id.User, app.Environments[e]) {
				can = append(can, name+"/"+e)
			}
		}
	}
	push := "no"
	if cfg.CanPush(c.id.User) {
		push = "yes"
	}
	fmt.Fprintf(c.out, "read:   every app (clone, fetch, status, status --live, releases, log, logs)\npush:   %s\ndeploy: %s\n", push, orDash(strings.Join(can, ", ")))
	return exitOK
}
