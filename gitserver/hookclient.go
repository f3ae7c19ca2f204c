package gitserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
)

// RunProcReceive is the proc-receive hook: it reads git's commands on in,
// forwards them to the daemon at socket, copies the daemon's output lines
// to stderr (which git shows the pusher as remote: lines) and writes the
// report git expects on out.
//
// It decides nothing itself. If the daemon cannot be reached, every ref
// is rejected.
func RunProcReceive(in io.Reader, out, stderr io.Writer, socket, token string) error {
	return runProcReceive(in, out, stderr, socket, hookRequest{Token: token})
}

// runProcReceive speaks proc-receive with git and sends req, completed
// with git's commands and push options, to the daemon.
func runProcReceive(in io.Reader, out, stderr io.Writer, socket string, req hookRequest) error {
	sc := pktline.NewScanner(in)
	enc := pktline.NewEncoder(out)

	// Version negotiation. Each section ends with a flush-pkt; input that
	// ends before it is a push git did not finish sending.
	versionLines, err := readSection(sc, "version")
	if err != nil && !errors.Is(err, errEarlyEnd) {
		return err
	}
	pushOptions, sawVersion := false, false
	for _, line := range versionLines {
		head, caps, _ := strings.Cut(line, "\x00")
		if head == "version=1" {
			sawVersion = true
			pushOptions = pushOptions || slices.Contains(strings.Fields(caps), "push-options")
		}
	}
	if !sawVersion {
		return errors.New("git did not offer proc-receive protocol version 1")
	}
	if err != nil {
		return err
	}
	caps := ""
	if pushOptions {
		caps = "push-options"
	}
	if err := enc.Encode([]byte("version=1\x00" + caps + "\n")); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}

	commands, err := readSection(sc, "commands")
	if err != nil {
		return err
	}
	for _, line := range commands {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			return fmt.Errorf("unexpected command from git: %q", line)
		}
		req.Commands = append(req.Commands, RefCommand{Old: f[0], New: f[1], Ref: f[2]})
	}
	if pushOptions {
		if req.Options, err = readSection(sc, "push options"); err != nil {
			return err
		}
	}

	report, err := askDaemon(socket, req, stderr)
	var lost *lostError
	switch {
	case errors.As(err, &lost):
		fmt.Fprintf(stderr, "slipway: lost the connection to the deploy server (%v); the deploy may have gone on: check with `ssh <server> status`\n", lost.err)
		report = rejectAll(req.Commands, "lost connection to slipway daemon")
	case err != nil:
		fmt.Fprintf(stderr, "slipway: the deploy server could not be reached (%v); nothing was changed\n", err)
		report = rejectAll(req.Commands, "slipway daemon unreachable")
	}
	for _, r := range report {
		lines := []string{"ok " + r.Ref}
		if r.Error != "" {
			lines = []string{"ng " + r.Ref + " " + oneLine(r.Error)}
		} else {
			if r.RefName != "" {
				lines = append(lines, "option refname "+r.RefName)
			}
			if r.OldOID != "" {
				lines = append(lines, "option old-oid "+r.OldOID)
			}
			if r.NewOID != "" {
				lines = append(lines, "option new-oid "+r.NewOID)
			}
			if r.Forced {
				lines = append(lines, "option forced-update")
			}
		}
		for _, line := range lines {
			if err := enc.Encode([]byte(line + "\n")); err != nil {
				return err
			}
		}
	}
	return enc.Flush()
}

func askDaemon(socket string, req hookRequest, stderr io.Writer) ([]RefResult, error) {
	conn, err := net.DialTimeout("unix", socket, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bufio.NewReader(conn))
	for {
		var m hookMessage
		if err := dec.Decode(&m); err != nil {
			// The daemon had the request: it may be deploying still.
			return nil, &lostError{err}
		}
		if m.Out != "" {
			io.WriteString(stderr, m.Out)
		}
		if m.Done {
			return m.Report, nil
		}
	}
}

// lostError is a connection to the daemon lost after the request was sent.
type lostError struct{ err error }

func (e *lostError) Error() string { return "lost connection to the daemon: " + e.err.Error() }

// oneLine makes a reason fit git's one-line report: control characters
// become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// readSection reads pkt-lines up to a flush-pkt. Input that ends before
// the flush is a push git did not finish sending: an error, never a
// shorter section.
func readSection(sc *pktline.Scanner, what string) ([]string, error) {
	var lines []string
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			return lines, nil
		}
		lines = append(lines, strings.TrimSuffix(string(line), "\n"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return lines, fmt.Errorf("%w: the %s", errEarlyEnd, what)
}

// errEarlyEnd is input from git that ends before a section's flush-pkt.
var errEarlyEnd = errors.New("git stopped sending before the end of a section; nothing was changed")
