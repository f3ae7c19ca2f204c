package gitserver

// The proc-receive hook and the daemon talk over a unix socket in JSON
// lines: the hook sends one hookRequest, the daemon answers with any
// number of hookMessage lines carrying output, then one with the report.

// RefCommand is one ref update git received.
type RefCommand struct {
	Old string `json:"old"`
	New string `json:"new"`
	Ref string `json:"ref"`
}

// RefResult is the daemon's verdict on one RefCommand. Error "" means ok.
// The other fields, when set, tell git what was really updated, for a push
// that Slipway carried out on another ref (a rollback moves the
// environment's branch) or with another value (a tag peeled to its commit).
type RefResult struct {
	Ref     string `json:"ref"`
	Error   string `json:"error,omitempty"`
	RefName string `json:"refname,omitempty"`
	OldOID  string `json:"old_oid,omitempty"`
	NewOID  string `json:"new_oid,omitempty"`
	Forced  bool   `json:"forced,omitempty"`
}

type hookRequest struct {
	Token    string       `json:"token"`
	Commands []RefCommand `json:"commands"`
	Options  []string     `json:"options,omitempty"`
	// External is set by a hook installed in a repository that another
	// git server serves (slipway install-hook); Token is then empty.
	External *externalClaim `json:"external,omitempty"`
}

type hookMessage struct {
	Out    string      `json:"out,omitempty"`    // one line for the pusher
	Report []RefResult `json:"report,omitempty"` // final
	Done   bool        `json:"done,omitempty"`
}

const zeroOID = "0000000000000000000000000000000000000000"
