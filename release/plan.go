package release

import (
	"fmt"
	"strconv"
	"strings"
)

// Plan splits hosts into canary waves. Each entry of waves is cumulative:
// "1" means the first host, "50%" up to half of all hosts (at least one),
// "100%" all of them. Waves that would add no host are dropped, and hosts
// the last entry does not reach form a final wave, so every host is
// always switched.
func Plan(hosts []string, waves []string) ([][]string, error) {
	if len(waves) == 0 {
		waves = []string{"1", "50%", "100%"}
	}
	var plan [][]string
	done := 0
	for _, w := range waves {
		upTo, err := waveSize(w, len(hosts))
		if err != nil {
			return nil, err
		}
		if upTo > done {
			plan = append(plan, hosts[done:upTo])
			done = upTo
		}
	}
	if done < len(hosts) {
		plan = append(plan, hosts[done:])
	}
	return plan, nil
}

func waveSize(w string, total int) (int, error) {
	var n int
	if pct, ok := strings.CutSuffix(w, "%"); ok {
		p, err := strconv.Atoi(pct)
		if err != nil || p < 1 || p > 100 {
			return 0, fmt.Errorf("wave %q: want a percentage from 1%% to 100%%", w)
		}
		n = max(total*p/100, 1)
	} else {
		c, err := strconv.Atoi(w)
		if err != nil || c < 1 {
			return 0, fmt.Errorf("wave %q: want a host count (1, 2, ...) or a percentage (50%%)", w)
		}
		n = c
	}
	return min(n, total), nil
}
