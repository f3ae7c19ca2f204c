package release

import (
	"reflect"
	"testing"

	"github.com/slipwayhq/slipway/release/host"
)

func TestPlan(t *testing.T) {
	hosts := func(n int) []string {
		var hs []string
		for i := 1; i <= n; i++ {
			hs = append(hs, "h"+string(rune('0'+i)))
		}
		return hs
	}
	tests := []struct {
		name  string
		hosts []string
		waves []string
		want  [][]string
	}{
		{"one host", hosts(1), nil, [][]string{{"h1"}}},
		{"default four", hosts(4), nil, [][]string{{"h1"}, {"h2"}, {"h3", "h4"}}},
		{"default three drops the empty wave", hosts(3), nil, [][]string{{"h1"}, {"h2", "h3"}}},
		{"remainder forms a last wave", hosts(4), []string{"1"}, [][]string{{"h1"}, {"h2", "h3", "h4"}}},
		{"all at once", hosts(3), []string{"100%"}, [][]string{{"h1", "h2", "h3"}}},
		{"counts beyond the fleet are capped", hosts(2), []string{"5"}, [][]string{{"h1", "h2"}}},
		{"small percentage is at least one host", hosts(5), []string{"10%", "100%"}, [][]string{{"h1"}, {"h2", "h3", "h4", "h5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.hosts, tt.waves)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan(%v, %v) = %v, want %v", tt.hosts, tt.waves, got, tt.want)
			}
		})
	}
}

func TestPlanRejectsBadWaves(t *testing.T) {
	for _, w := range []string{"0", "-1", "0%", "101%", "half", ""} {
		if _, err := Plan([]string{"a", "b"}, []string{w}); err == nil {
			t.Errorf("Plan accepted wave %q", w)
		}
	}
}

func TestParseRelease(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want bool
	}{
		{"v1", 1, true},
		{"v42", 42, true},
		{"v0", 0, false},
		{"v01", 0, false},
		{"v", 0, false},
		{"42", 0, false},
		{"v1a", 0, false},
		{"v1/../x", 0, false},
		{"v1234567890", 0, false},
	}
	for _, tt := range tests {
		n, ok := host.ParseRelease(tt.in)
		if ok != tt.want || n != tt.n {
			t.Errorf("host.ParseRelease(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.want)
		}
	}
}

func TestSortReleases(t *testing.T) {
	got := []string{"v10", "v2", "v1", "v9"}
	host.SortReleases(got)
	if want := []string{"v1", "v2", "v9", "v10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SortReleases = %v, want %v", got, want)
	}
}
