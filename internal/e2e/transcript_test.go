//go:build unix

package e2e

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// transcript [stdout|stderr] writes what the last command printed (stderr
// unless told) to stdout, normalized so that a run can be compared whole
// with a golden transcript kept in the script:
//
//	transcript
//	cmp stdout first-deploy.golden
//
// Durations, commit ids, key fingerprints, times, ports, the bytes rsync
// sent and the script's
// work directory are replaced by placeholders, trailing blanks are cut,
// and a run of lines of one step (say "upload" on several hosts, which
// work in parallel) is sorted. Everything else, every word of every line,
// must match. TESTSCRIPT_UPDATE=1 rewrites the golden files in the
// scripts from a run, for review as a change to what users see.
func init() {
	scriptCommands["transcript"] = cmdTranscript
}

func cmdTranscript(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 {
		ts.Fatalf("usage: transcript [stdout|stderr]")
	}
	which := "stderr"
	if len(args) == 1 {
		which = args[0]
	}
	if which != "stdout" && which != "stderr" {
		ts.Fatalf("transcript: want stdout or stderr, got %q", which)
	}
	// The commits of the repository in the current directory, if any,
	// so that their ids, however abbreviated, become <commit>.
	var commits []string
	cmd := exec.Command("git", "log", "--all", "--format=%H")
	cmd.Dir = ts.MkAbs(".")
	if out, err := cmd.Output(); err == nil {
		commits = strings.Fields(string(out))
	}
	ts.Stdout().Write([]byte(normalizeTranscript(ts.ReadFile(which), ts.Getenv("WORK"), commits)))
}

var transcriptRules = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`), "SHA256:<key>"},
	{regexp.MustCompile(`\b[0-9a-f]{64}\b`), "<sha256>"},
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?( ?(UTC|Z))?`), "<time>"},
	{regexp.MustCompile(`\bseen \d\d-\d\d \d\d:\d\d\b`), "seen <time>"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(ms|s|m|h)\b`), "<d>"},
	{regexp.MustCompile(`\b(\d+[dhms])+ ago\b`), "<d> ago"},
	{regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`), "$1:<port>"},
	// What rsync sends varies by a few bytes with its file lists.
	{regexp.MustCompile(`\b[0-9][0-9,.]* (B|KB|MB|GB) sent\b`), "<n> sent"},
}

// normalizeTranscript is what transcript prints: see cmdTranscript.
func normalizeTranscript(out, work string, commits []string) string {
	if work != "" {
		out = strings.ReplaceAll(out, work, "$WORK")
	}
	for _, c := range commits {
		if len(c) >= 7 {
			out = regexp.MustCompile(`\b`+c[:7]+`[0-9a-f]*\b`).ReplaceAllString(out, "<commit>")
		}
	}
	for _, r := range transcriptRules {
		out = r.re.ReplaceAllString(out, r.with)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " \t")
	}
	// Sort each run of lines that share their step, the first word after
	// "remote:": the hosts of one step report in the order they finish.
	for i := 0; i < len(lines); {
		step := transcriptStep(lines[i])
		j := i + 1
		for step != "" && j < len(lines) && transcriptStep(lines[j]) == step {
			j++
		}
		slices.Sort(lines[i:j])
		i = j
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// transcriptStep returns the step a remote: line reports ("upload",
// "wave 2/3"), or "" for any other line.
func transcriptStep(line string) string {
	rest, ok := strings.CutPrefix(line, "remote: ")
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	switch {
	case len(f) >= 3 && f[0] == "wave":
		return f[0] + " " + f[1]
	case len(f) >= 2 && !strings.HasSuffix(f[0], ":"):
		return f[0]
	}
	return ""
}
