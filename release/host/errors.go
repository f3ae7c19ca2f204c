package host

import "errors"

// The kinds of failure the engine tells apart, whatever the transport.
// Transports mark their errors with Mark; callers match with errors.Is
// and show the error itself, which says what to do.
var (
	// ErrNotOnHost means a release directory a switch needs is not on the host.
	ErrNotOnHost = errors.New("release is not on the host")
	// ErrNoSpace means the host's disk is full.
	ErrNoSpace = errors.New("no space left on the host")
	// ErrUnreachable means the host could not be connected to.
	ErrUnreachable = errors.New("host unreachable")
	// ErrHostKeyChanged means the host showed another key than the one
	// trusted: it was reinstalled, or something stands in between.
	ErrHostKeyChanged = errors.New("host key changed")
	// ErrHostKeyUnknown means the host's key was never trusted.
	ErrHostKeyUnknown = errors.New("host key not trusted")
	// ErrLoginRefused means the host refused Slipway's key.
	ErrLoginRefused = errors.New("login refused")
)

// Mark returns err, unchanged in what it says, so that errors.Is(err,
// kind) holds.
func Mark(kind, err error) error {
	if err == nil || errors.Is(err, kind) {
		return err
	}
	return &marked{kind: kind, err: err}
}

type marked struct{ kind, err error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.kind, m.err} }
