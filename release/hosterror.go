package release

import "fmt"

// HostError is a failure of one step on one host.
type HostError struct {
	Host string // host name
	Step string // "upload", "switch", "health", ...
	Err  error
}

func (e *HostError) Error() string { return fmt.Sprintf("%s on %s: %v", e.Step, e.Host, e.Err) }
func (e *HostError) Unwrap() error { return e.Err }
