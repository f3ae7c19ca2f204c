package textclean

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "plain", in: "Fix cart totals", want: "Fix cart totals"},
		{name: "color codes", in: "red \x1b[31mALERT\x1b[0m", want: "red ALERT"},
		{name: "bold and reset", in: "\x1b[1;31merror:\x1b[0m build failed", want: "error: build failed"},
		{name: "title and hyperlink", in: "\x1b]0;pwned\x07see \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", want: "see link"},
		{name: "cursor movement and reset", in: "\x1b[2J\x1b[H\x1b[10;20Hok\x1bc\x1b(B", want: "ok"},
		{name: "8-bit CSI", in: "\u009b31mred\u009b0m", want: "red"},
		{name: "8-bit OSC to ST", in: "\u009d0;title\u009cafter", want: "after"},
		{name: "DCS", in: "\x1bPq#0;2;0;0;0\x1b\\ok", want: "ok"},
		{name: "unterminated string", in: "bad\x1b]0;title", want: "bad"},
		{name: "lone ESC at the end", in: "end\x1b", want: "end"},
		{name: "bell, tab and line breaks", in: "bell\a and\ttab\r\nnext", want: "bell and tab  next"},
		{name: "control characters", in: "a\x00b\x08c\x7fd", want: "abcd"},
		{name: "bidi overrides and separators", in: "access\u202e\u2066\u2028 granted", want: "access granted"},
		{name: "zero-width", in: "ad\u200bmin\ufeff", want: "admin"},
		{name: "invalid utf-8", in: "bad \xff byte", want: "bad \ufffd byte"},
		{name: "cut", in: "abcdef", max: 4, want: "abc…"},
		{name: "exactly max kept", in: "abcd", max: 4, want: "abcd"},
		{name: "cut counts runes", in: strings.Repeat("é", 10), max: 5, want: "éééé…"},
		{name: "cut after cleaning", in: "\x1b[31mabcd\x1b[0m", max: 4, want: "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.in, tt.max); got != tt.want {
				t.Errorf("Line(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// FuzzLine checks that nothing a terminal acts on survives: no control
// character, no hidden formatting, and no remains of an escape sequence
// (the "[31m" a sanitizer leaves when it drops only the ESC byte).
func FuzzLine(f *testing.F) {
	for _, s := range []string{
		"\x1b[1;31merror\x1b[0m",
		"\x1b]0;t\x07x",
		"\u009b31m\u009dtitle\u009c",
		"\x1b(B\x1bc\x1b7",
		"\xff\xfe\x00",
		"plain text",
	} {
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max %= 300
		got := Line(s, max)
		if !utf8.ValidString(got) {
			t.Errorf("invalid UTF-8 in %q", got)
		}
		if max > 0 && utf8.RuneCountInString(got) > max {
			t.Errorf("%d runes, want at most %d", utf8.RuneCountInString(got), max)
		}
		for _, r := range got {
			if unicode.IsControl(r) || isHiddenFormat(r) {
				t.Errorf("control %U in %q", r, got)
			}
		}
		// Cleaning is idempotent: what is left has nothing more to strip.
		if again := Line(got, 0); again != got {
			t.Errorf("Line(Line(%q)) = %q, want %q", s, again, got)
		}
		// A sequence wrapped around printable text leaves exactly that text.
		if plain := Line(s, 0); Line("\x1b[31m"+plain+"\x1b[0m", 0) != plain {
			t.Errorf("color codes around %q left remains", plain)
		}
	})
}
