package host

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var releaseName = regexp.MustCompile(`^v([1-9][0-9]{0,8})$`)

// ParseRelease returns the number of a release name such as "v42".
func ParseRelease(name string) (int, bool) {
	m := releaseName.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// ReleaseName is the tag and directory name of release n.
func ReleaseName(n int) string { return "v" + strconv.Itoa(n) }

// SortReleases orders release names by number, oldest first.
func SortReleases(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, _ := ParseRelease(names[i])
		b, _ := ParseRelease(names[j])
		return a < b
	})
}

// ReleaseFromTarget turns a current symlink target ("releases/v3") into
// the release name, refusing targets Slipway did not write.
func ReleaseFromTarget(target string) (string, error) {
	rel, ok := strings.CutPrefix(target, "releases/")
	if _, valid := ParseRelease(rel); !ok || !valid {
		return "", fmt.Errorf("current points to %q, not to a Slipway release", target)
	}
	return rel, nil
}

// CheckName refuses, before anything reaches a host, a release name that
// is not vN.
func CheckName(name string) error {
	if _, ok := ParseRelease(name); !ok {
		return fmt.Errorf("bad release name %q", name)
	}
	return nil
}

// CheckUpload refuses the names of an upload of rel from linkDest before
// anything reaches a host: linkDest may be "" unless changed paths are
// given, which need it.
func CheckUpload(rel, linkDest string, changed []string) error {
	if err := CheckName(rel); err != nil {
		return err
	}
	if changed != nil || linkDest != "" {
		return CheckName(linkDest)
	}
	return nil
}
