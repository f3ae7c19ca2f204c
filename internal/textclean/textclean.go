// Package textclean makes text that Slipway did not write safe to show:
// commit subjects and author names from pushers, ref and file names, the
// output of hooks and health checks from hosts. The same rules apply
// wherever such text reaches a terminal, a log or the dashboard, so that
// what one place strips another cannot let through.
package textclean

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s as one printable line: terminal escape sequences (CSI,
// OSC, DCS and the other control strings, two- and three-byte ESC
// sequences, and their 8-bit C1 forms) are removed whole, tabs and line
// breaks become spaces, other control characters and hidden formatting
// characters are dropped, and invalid UTF-8 becomes U+FFFD. When max > 0
// the result is cut to at most max runes, the last being "…".
func Line(s string, max int) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i = skipEscape(s, i+1)
			continue
		case r == 0x9b: // CSI
			i = skipCSI(s, i+size)
			continue
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // DCS, SOS, OSC, PM, APC
			i = skipString(s, i+size)
			continue
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case unicode.IsControl(r), isHiddenFormat(r):
			// dropped
		default:
			b.WriteRune(r)
		}
		i += size
	}
	if max > 0 {
		return Cut(b.String(), max)
	}
	return b.String()
}

// Cut cuts s to at most max runes, the last being "…" when cut.
func Cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// skipEscape returns the index just past the escape sequence whose ESC byte
// precedes s[i].
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return skipCSI(s, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+1)
	case c >= 0x20 && c <= 0x2f: // intermediates, then a final byte: ESC ( B
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) {
			i++
		}
		return i
	default: // ESC c, ESC 7, ...
		return i + 1
	}
}

// skipCSI skips parameter and intermediate bytes and the final byte.
func skipCSI(s string, i int) int {
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipString skips a control string up to and including its terminator:
// BEL, ESC \ or the 8-bit ST. An unterminated string runs to the end.
func skipString(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		case s[i] == 0xc2 && i+1 < len(s) && s[i+1] == 0x9c:
			return i + 2
		}
		i++
	}
	return i
}

// isHiddenFormat reports formatting characters that make text display
// differently from how it is stored: bidirectional controls, which reorder
// it, the Unicode line and paragraph separators, which some viewers treat
// as line breaks, and the zero-width characters that hide in names.
func isHiddenFormat(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029, r == 0xfeff:
		return true
	case r >= 0x200b && r <= 0x200d:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// FirstLine is the first line of s, trimmed: the line of a program's
// output that names what it could not do.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// LastLine is the last line of s, trimmed: where git and most tools say
// why they failed.
func LastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
