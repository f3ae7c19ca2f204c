package gitserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/slipwayhq/slipway/release"
)

// releases handles `releases [APP] [--env ENV] [-n N] [--json]`: the
// release history, newest first, with each release's outcome.
func (c *command) releases(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("releases", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	envName := fs.String("env", "", "only this environment")
	n := fs.Int("n", 20, "at most this many releases")
	pos, ok := c.parse(fs, args, 1)
	if !ok {
		return exitUsage
	}
	apps, ok := c.apps(first(pos))
	if !ok {
		return exitUsage
	}
	type appReleases struct {
		App      string              `json:"app"`
		Releases []*release.Release  `json:"releases"`
		OnHosts  map[string][]string `json:"on_hosts"` // release → hosts that still have it
	}
	var all []appReleases
	for _, name := range apps {
		rels, err := c.history(name)
		if err != nil {
			fmt.Fprintf(c.errw, "slipway: cannot read the history of %s\n", name)
			return exitFailed
		}
		ar := appReleases{App: name, Releases: []*release.Release{}, OnHosts: map[string][]string{}}
		app, _ := c.s.Config().App(name)
		for env := range app.Environments {
			if st, err := c.s.Engine.State(name, env); err == nil {
				for host, hs := range st.Hosts {
					for _, r := range hs.Releases {
						ar.OnHosts[r] = append(ar.OnHosts[r], host)
					}
				}
			}
		}
		for _, hosts := range ar.OnHosts {
			sort.Strings(hosts)
		}
		for _, r := range rels {
			if *envName != "" && r.Env != *envName {
				continue
			}
			if *n > 0 && len(ar.Releases) >= *n {
				break
			}
			ar.Releases = append(ar.Releases, r)
		}
		all = append(all, ar)
	}
	if *asJSON {
		c.writeJSON(map[string]any{"apps": all})
		return exitOK
	}
	// Columns sized so that a row fits 100 columns with typical names.
	tw := tabwriter.NewWriter(c.out, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "APP\tRELEASE\tENV\tCOMMIT\tFROM\tSUBJECT\tBY\tWHEN\tTOOK\tOUTCOME\tON HOSTS")
	for _, ar := range all {
		for _, r := range ar.Releases {
			outcome := r.Outcome
			if r.Reason != "" && (r.Outcome == release.OutcomeFailed || r.Outcome == release.OutcomeRolledBack) {
				outcome += ": " + r.Reason
			}
			from := "git"
			if r.Artifact != "" {
				// Enough of the checksum to compare with sha256sum's.
				sum := strings.TrimPrefix(r.Artifact, "sha256:")
				from = "artifact:" + sum[:min(8, len(sum))]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clip(ar.App, 10), r.Name, clip(r.Env, 10), shortID(r.Commit), from, clip(r.Subject, 16),
				clip(r.User, 8), r.Time.UTC().Format("01-02 15:04"), orDash(r.Duration), clip(outcome, 20), clip(orDash(strings.Join(ar.OnHosts[r.Name], ",")), 12))
		}
	}
	tw.Flush()
	return exitOK
}
