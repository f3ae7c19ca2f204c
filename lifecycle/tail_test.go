package lifecycle

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/slipwayhq/slipway/internal/textclean"
)

func TestTail(t *testing.T) {
	long := strings.Repeat("é", 250)
	tests := []struct {
		name   string
		output string
		n      int
		want   []string
	}{
		{name: "last n lines", output: "1\n2\n3\n4\n5\n6\n7\n", n: 5, want: []string{"3", "4", "5", "6", "7"}},
		{name: "fewer lines than n", output: "only\n", n: 5, want: []string{"only"}},
		{name: "no trailing newline", output: "a\nb", n: 5, want: []string{"a", "b"}},
		{name: "blank lines skipped", output: "a\n\n  \n\t\nb\n\n\n", n: 2, want: []string{"a", "b"}},
		{name: "crlf", output: "a\r\nb\r\n", n: 5, want: []string{"a", "b"}},
		{name: "progress bar keeps what a terminal shows", output: " 10%\r 50%\r100%\ndone\n", n: 5, want: []string{"100%", "done"}},
		{name: "color codes", output: "\x1b[1;31merror:\x1b[0m build failed\n", n: 5, want: []string{"error: build failed"}},
		{name: "title and hyperlink escapes", output: "\x1b]0;pwned\x07see \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n", n: 5, want: []string{"see link"}},
		{name: "cursor movement and clear screen", output: "\x1b[2J\x1b[H\x1b[10;20Hok\x1bc\x1b(B\n", n: 5, want: []string{"ok"}},
		{name: "8-bit CSI", output: "\u009b31mred\u009b0m\n", n: 5, want: []string{"red"}},
		{name: "control characters", output: "a\x00b\x07c\x08d\x7fe\tf\n", n: 5, want: []string{"abcde f"}},
		{name: "bidi overrides and line separators", output: "access\u202e\u2066\u2028 granted\n", n: 5, want: []string{"access granted"}},
		{name: "invalid utf-8", output: "bad \xff byte\n", n: 5, want: []string{"bad \ufffd byte"}},
		{name: "long line cut", output: long + "\n", n: 5, want: []string{strings.Repeat("é", 199) + "…"}},
		{name: "line of exactly 200 runes kept", output: strings.Repeat("x", 200), n: 5, want: []string{strings.Repeat("x", 200)}},
		{name: "escape-only lines are blank", output: "a\n\x1b[0m\n\x1b[K\n", n: 5, want: []string{"a"}},
		{name: "unterminated escape", output: "ok\nbad\x1b]0;title", n: 5, want: []string{"ok", "bad"}},
		{name: "empty output", output: "", n: 5, want: nil},
		{name: "n zero", output: "a\n", n: 0, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Tail([]byte(tt.output), tt.n)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Tail(%q, %d) = %q, want %q", tt.output, tt.n, got, tt.want)
			}
		})
	}
}

func FuzzTail(f *testing.F) {
	for _, s := range []string{
		"\x1b[1;31merror\x1b[0m\n",
		"\x1b]0;t\x07x\n",
		"a\r\nb\rc\n",
		"\u009b31m\u009dtitle\u009c\n",
		strings.Repeat("long ", 100),
		"\xff\xfe\n\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, output []byte) {
		lines := Tail(output, TailLines)
		if len(lines) > TailLines {
			t.Fatalf("%d lines, want at most %d", len(lines), TailLines)
		}
		for _, line := range lines {
			if !utf8.ValidString(line) {
				t.Errorf("invalid UTF-8 in %q", line)
			}
			if n := utf8.RuneCountInString(line); n > maxLineRunes {
				t.Errorf("line of %d runes", n)
			}
			if strings.TrimSpace(line) == "" {
				t.Errorf("blank line returned")
			}
			for _, r := range line {
				if unicode.IsControl(r) {
					t.Errorf("control %U in %q", r, line)
				}
			}
			if clean := textclean.Line(line, 0); clean != line {
				t.Errorf("line %q is not clean: %q", line, clean)
			}
		}
	})
}
