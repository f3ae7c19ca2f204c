package config

import (
	"strconv"
	"strings"
)

// keyPath is a key in the configuration, such as users[0].keys or
// apps."*".environments.staging.path. The TOML decoder does not expose
// where keys are, so the locator and the decoder both build keyPaths and
// meet on their String form.
type keyPath []pathElem

type pathElem struct {
	name  string
	index int // array position, when isIndex
	isIdx bool
}

func (p keyPath) key(name string) keyPath {
	return append(p[:len(p):len(p)], pathElem{name: name})
}

func (p keyPath) index(i int) keyPath {
	return append(p[:len(p):len(p)], pathElem{index: i, isIdx: true})
}

// String writes p the way a user would address it: dotted, with names
// quoted when they are not bare TOML keys, and array positions in brackets.
func (p keyPath) String() string {
	var b strings.Builder
	for i, e := range p {
		if e.isIdx {
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(e.name) {
			b.WriteString(e.name)
		} else {
			b.WriteString(strconv.Quote(e.name))
		}
	}
	return b.String()
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// locate maps every key, table header and array element in a TOML document
// to the 1-based line where it first appears. Tables that are only implied
// by a header ([apps.shop.environments.production] implies apps.shop) map to
// that header's line. The document should be valid TOML; on anything else
// locate still terminates and returns what it understood.
func locate(src string) map[string]int {
	l := &locator{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	l.document()
	return l.lines
}

type locator struct {
	src   string
	pos   int
	line  int
	lines map[string]int
	// arrays holds, for each array of tables (by its path with the indices
	// of enclosing arrays), the index of the entry being read.
	arrays map[string]int
}

func (l *locator) eof() bool { return l.pos >= len(l.src) }

func (l *locator) peek() byte {
	if l.eof() {
		return 0
	}
	return l.src[l.pos]
}

func (l *locator) next() {
	if l.src[l.pos] == '\n' {
		l.line++
	}
	l.pos++
}

func (l *locator) record(p keyPath, line int) {
	k := p.String()
	if _, ok := l.lines[k]; !ok {
		l.lines[k] = line
	}
}

func (l *locator) skipSpace() {
	for c := l.peek(); c == ' ' || c == '\t'; c = l.peek() {
		l.next()
	}
}

// skipBlank skips spaces, newlines and comments, as allowed inside arrays
// and (since TOML 1.1) inline tables.
func (l *locator) skipBlank() {
	for !l.eof() {
		switch l.peek() {
		case ' ', '\t', '\r', '\n':
			l.next()
		case '#':
			l.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the newline that ends the current line.
func (l *locator) skipLine() {
	for !l.eof() && l.peek() != '\n' {
		l.next()
	}
}

func (l *locator) document() {
	var table keyPath
	for !l.eof() {
		start := l.pos
		l.skipSpace()
		switch l.peek() {
		case '\n', '\r':
			l.next()
			continue
		case '#':
			l.skipLine()
			continue
		case '[':
			table = l.header()
		default:
			l.keyValue(table)
		}
		l.skipLine()
		if l.pos == start && !l.eof() {
			l.next()
		}
	}
}

// header reads a [table] or [[array]] header and returns the table's path.
func (l *locator) header() keyPath {
	line := l.line
	l.next()
	isArray := l.peek() == '['
	if isArray {
		l.next()
	}
	names := l.keyNames()
	var p keyPath
	for i, name := range names {
		p = p.key(name)
		if i == len(names)-1 && isArray {
			k := p.String()
			idx, seen := l.arrays[k]
			if seen {
				idx++
			}
			l.arrays[k] = idx
			// A new entry starts its own nested arrays from 0.
			for other := range l.arrays {
				if strings.HasPrefix(other, k+"[") {
					delete(l.arrays, other)
				}
			}
			l.record(p, line)
			p = p.index(idx)
		} else if idx, ok := l.arrays[p.String()]; ok {
			p = p.index(idx)
		}
		l.record(p, line)
	}
	return p
}

// keyValue reads "a.b = value" inside table.
func (l *locator) keyValue(table keyPath) {
	line := l.line
	names := l.keyNames()
	if len(names) == 0 {
		return
	}
	p := table
	for _, name := range names {
		p = p.key(name)
		l.record(p, line)
	}
	l.skipSpace()
	if l.peek() != '=' {
		return
	}
	l.next()
	l.skipSpace()
	l.value(p)
}

// keyNames reads a dotted key such as a."b c".'d' and returns its parts.
func (l *locator) keyNames() []string {
	var names []string
	for {
		l.skipSpace()
		var name string
		switch c := l.peek(); {
		case c == '"':
			raw := l.basicString()
			if s, err := strconv.Unquote(raw); err == nil {
				name = s
			} else {
				name = strings.Trim(raw, `"`)
			}
		case c == '\'':
			name = strings.Trim(l.literalString(), "'")
		default:
			start := l.pos
			for !l.eof() && isBareKey(l.src[l.pos:l.pos+1]) {
				l.next()
			}
			name = l.src[start:l.pos]
			if name == "" {
				return names
			}
		}
		names = append(names, name)
		l.skipSpace()
		if l.peek() != '.' {
			return names
		}
		l.next()
	}
}

// value reads one value at p, recording the elements of arrays and the
// keys of inline tables.
func (l *locator) value(p keyPath) {
	switch {
	case strings.HasPrefix(l.src[l.pos:], `"""`), strings.HasPrefix(l.src[l.pos:], `'''`):
		l.multilineString()
	case l.peek() == '"':
		l.basicString()
	case l.peek() == '\'':
		l.literalString()
	case l.peek() == '[':
		l.next()
		for i := 0; ; i++ {
			l.skipBlank()
			if l.eof() || l.peek() == ']' {
				break
			}
			start := l.pos
			l.record(p.index(i), l.line)
			l.value(p.index(i))
			l.skipBlank()
			if l.peek() == ',' {
				l.next()
			} else if l.pos == start {
				break // not TOML; give up on this array
			}
		}
		if l.peek() == ']' {
			l.next()
		}
	case l.peek() == '{':
		l.next()
		for {
			l.skipBlank()
			if l.eof() || l.peek() == '}' {
				break
			}
			start := l.pos
			l.keyValue(p)
			l.skipBlank()
			if l.peek() == ',' {
				l.next()
			} else if l.pos == start {
				break
			}
		}
		if l.peek() == '}' {
			l.next()
		}
	default:
		for !l.eof() && strings.IndexByte(",]}#\r\n", l.peek()) < 0 {
			l.next()
		}
	}
}

// basicString reads a "..." string and returns it with its quotes.
func (l *locator) basicString() string {
	start := l.pos
	l.next()
	for !l.eof() && l.peek() != '"' && l.peek() != '\n' {
		if l.peek() == '\\' {
			l.next()
			if l.eof() || l.peek() == '\n' {
				break
			}
		}
		l.next()
	}
	if l.peek() == '"' {
		l.next()
	}
	return l.src[start:l.pos]
}

// literalString reads a '...' string and returns it with its quotes.
func (l *locator) literalString() string {
	start := l.pos
	l.next()
	for !l.eof() && l.peek() != '\'' && l.peek() != '\n' {
		l.next()
	}
	if l.peek() == '\'' {
		l.next()
	}
	return l.src[start:l.pos]
}

// multilineString reads a string delimited by three double or three single
// quotes. Up to two quotes may directly precede the closing delimiter and
// belong to the string.
func (l *locator) multilineString() {
	delim := l.src[l.pos : l.pos+3]
	for range 3 {
		l.next()
	}
	for !l.eof() {
		if delim == `"""` && l.peek() == '\\' {
			l.next()
			if !l.eof() {
				l.next()
			}
			continue
		}
		if strings.HasPrefix(l.src[l.pos:], delim) {
			for range 3 {
				l.next()
			}
			for n := 0; n < 2 && l.peek() == delim[0]; n++ {
				l.next()
			}
			return
		}
		l.next()
	}
}
