package host

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

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
		n, ok := ParseRelease(tt.in)
		if ok != tt.want || n != tt.n {
			t.Errorf("ParseRelease(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.want)
		}
	}
}

func TestSortReleases(t *testing.T) {
	got := []string{"v10", "v2", "v1", "v9"}
	SortReleases(got)
	if want := []string{"v1", "v2", "v9", "v10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SortReleases = %v, want %v", got, want)
	}
}

func TestReleaseFromTarget(t *testing.T) {
	for target, want := range map[string]string{"releases/v3": "v3", "releases/v0": "", "/etc": "", "releases/v3/..": "", "v3": ""} {
		got, err := ReleaseFromTarget(target)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ReleaseFromTarget(%q) = %q, %v; want %q", target, got, err, want)
		}
	}
}

func TestCheckUpload(t *testing.T) {
	for _, tc := range []struct {
		rel, linkDest string
		changed       []string
		ok            bool
	}{
		{"v2", "", nil, true},
		{"v2", "v1", nil, true},
		{"v2", "v1", []string{"a"}, true},
		{"v2", "", []string{"a"}, false}, // changed paths need a release to start from
		{"v2", "../x", nil, false},
		{"../v2", "v1", nil, false},
		{"", "", nil, false},
	} {
		if err := CheckUpload(tc.rel, tc.linkDest, tc.changed); (err == nil) != tc.ok {
			t.Errorf("CheckUpload(%q, %q, %q) = %v, want ok %v", tc.rel, tc.linkDest, tc.changed, err, tc.ok)
		}
	}
}

// Mark adds a kind to an error without changing what it says or what it
// wraps.
func TestMark(t *testing.T) {
	if Mark(ErrNoSpace, nil) != nil {
		t.Error("Mark of nil is not nil")
	}
	base := &os.PathError{Op: "write", Path: "/srv/a", Err: errors.New("no space left on device")}
	err := fmt.Errorf("upload: %w", Mark(ErrNoSpace, base))
	var pe *os.PathError
	if !errors.Is(err, ErrNoSpace) || !errors.As(err, &pe) || pe != base || errors.Is(err, ErrUnreachable) {
		t.Errorf("marked %v: Is no space %v, As path error %v, Is unreachable %v", err, errors.Is(err, ErrNoSpace), errors.As(err, &pe), errors.Is(err, ErrUnreachable))
	}
	if got := err.Error(); got != "upload: write /srv/a: no space left on device" || strings.Contains(got, ErrNoSpace.Error()) {
		t.Errorf("marked error says %q", got)
	}
	if twice := Mark(ErrNoSpace, Mark(ErrNoSpace, base)); twice.Error() != base.Error() {
		t.Errorf("marked twice: %v", twice)
	}
}
