package release

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// printer writes the pusher's progress lines. It is safe for concurrent
// use, since hosts report in parallel. Write errors are ignored: a pusher
// who went away must not stop the deploy.
type printer struct {
	mu sync.Mutex
	w  io.Writer
	// secrets are masked in hook output before it is cut or sanitized;
	// the writer masks them again in every line.
	secrets []string
}

func newPrinter(w io.Writer) *printer {
	if w == nil {
		w = io.Discard
	}
	return &printer{w: w}
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// step prints "<step> <host> <message>" with the step padded so that the
// hosts line up.
func (p *printer) step(step, host, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if host != "" {
		msg = host + " " + msg
	}
	p.line("%-10s %s", step, msg)
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// count says "1 file", "2 files", "1,204 files".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
