package release

import (
	"reflect"
	"testing"
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
