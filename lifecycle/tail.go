package lifecycle

import (
	"bytes"
	"strings"
	"unicode"

	"github.com/slipwayhq/slipway/internal/textclean"
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
		s := strings.TrimRightFunc(textclean.Line(string(line), 0), unicode.IsSpace)
		if s == "" {
			continue
		}
		lines = append(lines, textclean.Cut(s, maxLineRunes))
	}
	if len(lines) == 0 {
		return nil
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return lines
}
