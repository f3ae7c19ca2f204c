package lifecycle

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
)

// maskText replaces a secret.
const maskText = "***"

// maxPendingMask bounds how much of a line without a newline a Masker holds.
const maxPendingMask = 32 << 10

// errMaskerClosed is returned by a write after Close.
var errMaskerClosed = errors.New("hooks: write to closed Masker")

// Masker replaces every secret value with "***" in the text written through
// it. It holds text back until a newline, so a secret split across writes is
// still masked; a line longer than 32 KiB is passed on in parts, holding back
// enough for a secret to straddle the cut. A secret that spans lines is
// masked line by line, each of its lines becoming "***" wherever it appears,
// since output may be cut at any newline. Empty secrets are ignored. Close writes what is held back; it does not close the
// underlying writer. A Masker is safe for concurrent use.
type Masker struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
	longest int
	buf     []byte
	err     error
	scratch masking
}

// NewMasker returns a Masker that writes to w.
func NewMasker(w io.Writer, secrets []string) *Masker {
	s := secretSet(secrets)
	longest := 0
	for _, v := range s {
		longest = max(longest, len(v))
	}
	return &Masker{w: w, secrets: s, longest: longest}
}

// Write masks and passes on every complete line in p, holding back the rest.
func (m *Masker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if len(m.secrets) == 0 {
		return m.pass(p)
	}
	m.buf = append(m.buf, p...)
	cut := bytes.LastIndexByte(m.buf, '\n') + 1
	if len(m.buf)-cut > maxPendingMask {
		// Hold back the longest secret but one byte: a secret whose
		// beginning ends the text fits in that.
		cut = m.scratch.safeCut(m.buf, m.secrets, len(m.buf)-(m.longest-1))
	}
	if cut == 0 {
		return len(p), nil
	}
	// out may be m.buf itself: write it before moving the rest down.
	out := m.scratch.mask(m.buf[:cut], m.secrets)
	_, err := m.w.Write(out)
	m.buf = append(m.buf[:0], m.buf[cut:]...)
	if err != nil {
		m.err = err
		return 0, err
	}
	return len(p), nil
}

// Close writes the held-back text, masked.
func (m *Masker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		if m.err == errMaskerClosed {
			return nil
		}
		return m.err
	}
	m.err = errMaskerClosed
	if len(m.buf) == 0 {
		return nil
	}
	out := m.scratch.mask(m.buf, m.secrets)
	m.buf = nil
	_, err := m.w.Write(out)
	return err
}

func (m *Masker) pass(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		m.err = err
	}
	return n, err
}

// Mask returns s with every secret value replaced by "***", matching what a
// Masker writes.
func Mask(s string, secrets []string) string {
	set := secretSet(secrets)
	if len(set) == 0 || !containsAny(s, set) {
		return s
	}
	var mk masking
	return string(mk.mask([]byte(s), set))
}

// secretSet returns the non-empty secrets, each multi-line one replaced by its
// non-empty lines, without duplicates. No entry contains a newline, so no
// match spans lines, and masking a whole text or line by line gives the same.
func secretSet(secrets []string) []string {
	var set []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if !strings.Contains(s, "\n") {
			set = append(set, s)
			continue
		}
		for line := range strings.SplitSeq(s, "\n") {
			if line = strings.TrimSuffix(line, "\r"); line != "" {
				set = append(set, line)
			}
		}
	}
	slices.Sort(set)
	return slices.Compact(set)
}

func containsAny(s string, secrets []string) bool {
	for _, v := range secrets {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// masking holds the buffers masking needs, reused from one write to the
// next so that masking a long output allocates little.
type masking struct {
	spans [][2]int
	out   []byte
}

// matches sets mk.spans to the byte ranges of text covered by any secret, in
// order. Overlapping occurrences merge, so no part of either is left showing;
// adjacent ones stay apart, so cutting text between them changes nothing.
func (mk *masking) matches(text []byte, secrets []string) [][2]int {
	spans := mk.spans[:0]
	for _, s := range secrets {
		sb := []byte(s)
		for from := 0; ; {
			i := bytes.Index(text[from:], sb)
			if i < 0 {
				break
			}
			start := from + i
			spans = append(spans, [2]int{start, start + len(s)})
			from = start + 1
		}
	}
	mk.spans = spans
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp[0] < last[1] {
			last[1] = max(last[1], sp[1])
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// mask returns text with each matched range replaced by "***": text itself
// when nothing matches, else mk's own buffer, valid until the next call.
func (mk *masking) mask(text []byte, secrets []string) []byte {
	spans := mk.matches(text, secrets)
	if len(spans) == 0 {
		return text
	}
	out := mk.out[:0]
	prev := 0
	for _, sp := range spans {
		out = append(out, text[prev:sp[0]]...)
		out = append(out, maskText...)
		prev = sp[1]
	}
	out = append(out, text[prev:]...)
	mk.out = out
	return out
}

// safeCut moves cut back so that no secret occurrence in text straddles it.
// Everything from the returned index on is held back; it is at least as long
// as cut left it, so a secret's beginning at the end of text stays held.
func (mk *masking) safeCut(text []byte, secrets []string, cut int) int {
	for _, sp := range mk.matches(text, secrets) {
		if sp[0] < cut && cut < sp[1] {
			return sp[0]
		}
	}
	return max(cut, 0)
}
