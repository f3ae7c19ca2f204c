package lifecycle

import (
	"bytes"
	"io"
	"sync"
	"unicode/utf8"
)

const (
	// maxOutput is how much of a command's output an Output keeps: the
	// end, where the reason for a failure usually is.
	maxOutput = 64 << 10
	// MaxLine is the longest line an Output passes on or keeps, in bytes,
	// before its cut marker and newline. The rest of a longer line is
	// dropped.
	MaxLine = 4 << 10
	// maxBatch is how many bytes of complete lines an Output gathers
	// before it writes them on.
	maxBatch = 32 << 10
)

// cutMarker ends a line that was longer than MaxLine.
const cutMarker = "…"

// Output is where a command's output goes when Slipway shows it. It holds a
// bounded amount of memory whatever the command writes:
//
//   - every secret is replaced by "***" first, before anything is cut (see
//     Masker), so no cut below can leave part of a secret showing;
//   - a line longer than MaxLine is cut there and ends in "…"; the rest of
//     it, up to its newline, is dropped;
//   - the lines are passed on to the writer given to NewOutput, if any, in
//     writes of one or more whole lines ending in "\n"; an error from that
//     writer stops the copying, not the command;
//   - the last 64 KiB of lines are kept for Tail.
//
// Write never fails, so a command is never blocked or killed because its
// output is not wanted. Close passes on what is held back, giving a final
// line without a newline one. An Output is safe for concurrent use.
type Output struct {
	mu     sync.Mutex
	masker *Masker
	lines  lineCutter
	closed bool
}

// NewOutput returns an Output that masks secrets and passes lines to out
// (nil: only the tail is kept).
func NewOutput(out io.Writer, secrets []string) *Output {
	o := &Output{}
	o.lines.out = out
	o.masker = NewMasker(&o.lines, secrets)
	return o
}

// Write takes the next part of the output. It always reports success.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.masker.Write(p) // lineCutter.Write never fails
	}
	return len(p), nil
}

// Close passes on the held-back rest of the output. Later writes are
// dropped.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.masker.Close()
	o.lines.finish()
	return nil
}

// Tail returns the last 64 KiB (at most) of the lines, masked and cut,
// starting at the beginning of a line. Call it after Close to include a
// final line without a newline.
func (o *Output) Tail() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.lines.tail)
}

// lineCutter cuts masked text into lines of at most MaxLine bytes, keeps the
// last of them and passes them on.
type lineCutter struct {
	out    io.Writer
	failed bool   // out returned an error; nothing more is written to it
	line   []byte // the line being read, at most MaxLine bytes
	cut    bool   // the line being read is longer than MaxLine
	batch  []byte // complete lines not yet written to out
	tail   []byte // the last complete lines, at most 2*maxOutput bytes
}

func (l *lineCutter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		part := p
		if i >= 0 {
			part, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		l.add(part)
		if i >= 0 {
			l.endLine()
		}
	}
	l.flush()
	return n, nil
}

// add appends part of a line, cutting the line at MaxLine.
func (l *lineCutter) add(part []byte) {
	if l.cut {
		return
	}
	if room := MaxLine - len(l.line); len(part) > room {
		l.line = append(l.line, part[:room]...)
		l.line = trimPartialRune(l.line)
		l.cut = true
		return
	}
	l.line = append(l.line, part...)
}

// endLine completes the line being read.
func (l *lineCutter) endLine() {
	start := len(l.batch)
	l.batch = append(l.batch, l.line...)
	if l.cut {
		l.batch = append(l.batch, cutMarker...)
	}
	l.batch = append(l.batch, '\n')
	l.keep(l.batch[start:])
	l.line, l.cut = l.line[:0], false
	if len(l.batch) >= maxBatch {
		l.flush()
	}
}

// keep adds a complete line to the tail. When the tail passes twice its
// size it is cut back to its last maxOutput bytes, from a line's start.
func (l *lineCutter) keep(line []byte) {
	l.tail = append(l.tail, line...)
	if len(l.tail) <= 2*maxOutput {
		return
	}
	from := len(l.tail) - maxOutput
	if i := bytes.IndexByte(l.tail[from-1:], '\n'); i >= 0 {
		from += i
	}
	l.tail = append(l.tail[:0], l.tail[from:]...)
}

// flush writes the complete lines gathered so far to out.
func (l *lineCutter) flush() {
	if len(l.batch) == 0 {
		return
	}
	if l.out != nil && !l.failed {
		if _, err := l.out.Write(l.batch); err != nil {
			l.failed = true
		}
	}
	l.batch = l.batch[:0]
}

// finish completes a final line without a newline and trims the tail to
// its size.
func (l *lineCutter) finish() {
	if len(l.line) > 0 || l.cut {
		l.endLine()
	}
	l.flush()
	if len(l.tail) > maxOutput {
		from := len(l.tail) - maxOutput
		if i := bytes.IndexByte(l.tail[from-1:], '\n'); i >= 0 {
			from += i
		}
		l.tail = l.tail[from:]
	}
}

// trimPartialRune drops an incomplete UTF-8 sequence that a cut left at the
// end of b.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
