package hooks

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLineRunes is the longest line Tail returns, ellipsis included.
const maxLineRunes = 200

// Tail returns the last n non-blank lines of output, oldest first, made safe
// to print on a terminal or in a log: escape sequences and control characters
// are removed, tabs become spaces, invalid UTF-8 becomes U+FFFD, and a line
// longer than 200 runes is cut to 199 and "…". Where a line was rewritten with
// carriage returns (a progress bar), only the text after the last one is
// kept, as a terminal would show it. Tail returns nil when nothing is left.
func Tail(output []byte, n int) []string {
	if n <= 0 {
		return nil
	}
	var lines []string
	rest := output
	for len(rest) > 0 && len(lines) < n {
		var line []byte
		if i := bytes.LastIndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[i+1:], rest[:i]
		} else {
			line, rest = rest, nil
		}
		line = bytes.TrimRight(line, "\r")
		if i := bytes.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		s := strings.TrimRightFunc(sanitize(line), unicode.IsSpace)
		if s == "" {
			continue
		}
		lines = append(lines, truncate(s, maxLineRunes))
	}
	if len(lines) == 0 {
		return nil
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return lines
}

// sanitize removes terminal escape sequences (CSI, OSC, DCS and the other
// string controls, two- and three-byte ESC sequences, and their 8-bit C1
// forms), control characters and hidden formatting characters from one line.
func sanitize(line []byte) string {
	var b strings.Builder
	b.Grow(len(line))
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		switch {
		case r == 0x1b:
			i = skipEscape(line, i+1)
			continue
		case r == 0x9b: // CSI
			i = skipCSI(line, i+size)
			continue
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // DCS, SOS, OSC, PM, APC
			i = skipString(line, i+size)
			continue
		case r == '\t':
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
	return b.String()
}

// skipEscape returns the index just past the escape sequence whose ESC byte
// precedes line[i].
func skipEscape(line []byte, i int) int {
	if i >= len(line) {
		return i
	}
	switch c := line[i]; {
	case c == '[':
		return skipCSI(line, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(line, i+1)
	case c >= 0x20 && c <= 0x2f: // intermediates, then a final byte: ESC ( B
		for i < len(line) && line[i] >= 0x20 && line[i] <= 0x2f {
			i++
		}
		if i < len(line) {
			i++
		}
		return i
	default: // ESC c, ESC 7, ...
		return i + 1
	}
}

// skipCSI skips parameter and intermediate bytes and the final byte.
func skipCSI(line []byte, i int) int {
	for i < len(line) && line[i] >= 0x20 && line[i] <= 0x3f {
		i++
	}
	if i < len(line) && line[i] >= 0x40 && line[i] <= 0x7e {
		i++
	}
	return i
}

// skipString skips a control string up to and including its terminator:
// BEL, ESC \ or the 8-bit ST. An unterminated string runs to the line's end.
func skipString(line []byte, i int) int {
	for i < len(line) {
		switch {
		case line[i] == 0x07:
			return i + 1
		case line[i] == 0x1b && i+1 < len(line) && line[i+1] == '\\':
			return i + 2
		case line[i] == 0xc2 && i+1 < len(line) && line[i+1] == 0x9c:
			return i + 2
		}
		i++
	}
	return i
}

// isHiddenFormat reports formatting characters that make text display
// differently from how it is stored: bidirectional controls, which reorder
// it, and the Unicode line and paragraph separators, which some viewers
// treat as line breaks.
func isHiddenFormat(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// truncate cuts s to at most limit runes, the last being "…" when cut.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
