package gitserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
	sc := pktline.NewScanner(in)
	enc := pktline.NewEncoder(out)

	// Version negotiation.
	pushOptions := false
	sawVersion := false
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			break
		}
		head, caps, _ := strings.Cut(strings.TrimSuffix(string(line), "\n"), "\x00")
		if head == "version=1" {
			sawVersion = true
			for _, c := range strings.Fields(caps) {
				if c == "push-options" {
					pushOptions = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	if !sawVersion {
		return errors.New("git did not offer proc-receive protocol version 1")
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

	req := hookRequest{Token: token}
	for sc.Scan() {
		line := strings.TrimSuffix(string(sc.Bytes()), "\n")
		if line == "" {
			break
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			return fmt.Errorf("unexpected command from git: %q", line)
		}
		req.Commands = append(req.Commands, RefCommand{Old: f[0], New: f[1], Ref: f[2]})
	}
	if pushOptions {
		for sc.Scan() {
			line := strings.TrimSuffix(string(sc.Bytes()), "\n")
			if line == "" {
				break
			}
			req.Options = append(req.Options, line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read commands: %w", err)
	}

	report, err := askDaemon(socket, req, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "slipway: the deploy server could not be reached (%v); nothing was changed\n", err)
		report = nil
		for _, c := range req.Commands {
			report = append(report, RefResult{Ref: c.Ref, Error: "slipway daemon unreachable"})
		}
	}
	for _, r := range report {
		lines := []string{"ok " + r.Ref}
		if r.Error != "" {
			lines = []string{"ng " + r.Ref + " " + strings.ReplaceAll(r.Error, "\n", " ")}
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
			return nil, fmt.Errorf("daemon closed the connection: %w", err)
		}
		if m.Out != "" {
			io.WriteString(stderr, m.Out)
		}
		if m.Done {
			return m.Report, nil
		}
	}
}
