package gitserver

import "testing"

func TestReleaseTag(t *testing.T) {
	tests := []struct {
		tag      string
		reserved bool
	}{
		{"v1", true},
		{"v7", true},
		{"v0", true},
		{"v01", true},
		{"v1234567890", true},
		{"v1.4.2", false},
		{"v2-beta", false},
		{"v", false},
		{"version", false},
		{"1", false},
		{"V7", false},
		{"release/v7", false},
		{"v7/x", false},
	}
	for _, tt := range tests {
		if got := releaseTag.MatchString(tt.tag); got != tt.reserved {
			t.Errorf("releaseTag.MatchString(%q) = %v, want %v", tt.tag, got, tt.reserved)
		}
	}
}
