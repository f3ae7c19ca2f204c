package lifecycle

import (
	"bytes"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		secrets []string
		want    string
	}{
		{name: "one secret", s: "token=abc123 ok", secrets: []string{"abc123"}, want: "token=*** ok"},
		{name: "every occurrence", s: "abc123abc123 abc123", secrets: []string{"abc123"}, want: "****** ***"},
		{name: "empty secret ignored", s: "text", secrets: []string{""}, want: "text"},
		{name: "no secrets", s: "text", secrets: nil, want: "text"},
		{name: "prefix of another secret", s: "key=abcdef", secrets: []string{"abc", "abcdef"}, want: "key=***"},
		{name: "overlapping secrets leave nothing", s: "xabcy", secrets: []string{"xab", "bcy"}, want: "***"},
		{name: "multi-line secret", s: "-----BEGIN-----\nMIIE\n-----END-----", secrets: []string{"-----BEGIN-----\nMIIE\n-----END-----"}, want: "***\n***\n***"},
		{name: "line of a multi-line secret alone", s: "got MIIE", secrets: []string{"BEGIN\r\nMIIE\r\nEND"}, want: "got ***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.s, tt.secrets); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
}

func TestMasker(t *testing.T) {
	secret := "hunter2-s3cr3t"
	tests := []struct {
		name    string
		writes  []string
		secrets []string
		want    string
	}{
		{name: "secret in one write", writes: []string{"pw=" + secret + "\n"}, secrets: []string{secret}, want: "pw=***\n"},
		{name: "secret split across writes", writes: []string{"pw=hun", "ter2-s3", "cr3t\nnext\n"}, secrets: []string{secret}, want: "pw=***\nnext\n"},
		{name: "split secret at the end is flushed on close", writes: []string{"pw=hunter2", "-s3cr3t"}, secrets: []string{secret}, want: "pw=***"},
		{name: "byte by byte", writes: strings.Split("a "+secret+" b\n", ""), secrets: []string{secret}, want: "a *** b\n"},
		{name: "multi-line secret across writes", writes: []string{"k=line-one\nli", "ne-two\n"}, secrets: []string{"line-one\nline-two"}, want: "k=***\n***\n"},
		{name: "no secrets passes through", writes: []string{"a", "b\n"}, want: "ab\n"},
		{
			name:    "secret straddling the cut of a long line",
			writes:  []string{strings.Repeat("x", maxPendingMask), "hunter2-s3", "cr3t" + strings.Repeat("y", maxPendingMask) + "\n"},
			secrets: []string{secret},
			want:    strings.Repeat("x", maxPendingMask) + "***" + strings.Repeat("y", maxPendingMask) + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			m := NewMasker(&buf, tt.secrets)
			for _, w := range tt.writes {
				if n, err := m.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("wrote %q, want %q", got, tt.want)
			}
			if _, err := m.Write([]byte("late\n")); err == nil {
				t.Errorf("Write after Close succeeded")
			}
		})
	}
}

func TestMaskerHoldsLineUntilNewline(t *testing.T) {
	var buf bytes.Buffer
	m := NewMasker(&buf, []string{"secret"})
	m.Write([]byte("first line\nsec"))
	if got := buf.String(); got != "first line\n" {
		t.Errorf("after partial write: %q, want only the complete line", got)
	}
	m.Write([]byte("ret\n"))
	if got := buf.String(); got != "first line\n***\n" {
		t.Errorf("after newline: %q", got)
	}
}

// FuzzMasker checks that however output is split into writes, a Masker
// writes what Mask returns for the whole.
func FuzzMasker(f *testing.F) {
	f.Add("pw=hunter2\nok\n", "hunter2", uint16(5), uint16(7))
	f.Add("aaaa\nabab", "aba", uint16(1), uint16(2))
	f.Add("x\r\ny", "x\r\ny", uint16(2), uint16(3))
	f.Fuzz(func(t *testing.T, text, secret string, cut1, cut2 uint16) {
		a, b := int(cut1)%(len(text)+1), int(cut2)%(len(text)+1)
		if a > b {
			a, b = b, a
		}
		var buf bytes.Buffer
		m := NewMasker(&buf, []string{secret})
		for _, part := range []string{text[:a], text[a:b], text[b:]} {
			m.Write([]byte(part))
		}
		m.Close()
		if want := Mask(text, []string{secret}); buf.String() != want {
			t.Errorf("split at %d,%d: wrote %q, Mask gives %q", a, b, buf.String(), want)
		}
	})
}
