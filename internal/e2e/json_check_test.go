//go:build unix

package e2e

import (
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	const doc = `{"apps":[{"app":"shop","releases":[{"release":"v2"},{"release":"v1"}],"deploy":null}]}`
	tests := []struct {
		path, want string
		neg        bool
		wantErr    string // "" when the check passes
	}{
		{path: "apps.0.app", want: "shop"},
		{path: "apps.0.releases.1.release", want: "v1"},
		{path: "apps.0.releases.len", want: "2"},
		{path: "apps.0.deploy", want: "null"},
		{path: "apps.0.app", want: "blog", wantErr: `apps.0.app = "shop", want "blog"`},
		{path: "apps.0.app", want: "blog", neg: true},
		{path: "apps.0.app", want: "shop", neg: true, wantErr: `want not "shop"`},
		// A path that is not there fails, with ! too: a misspelt path
		// must not pass a negated check.
		{path: "apps.0.ap", want: "shop", wantErr: `no key "ap"`},
		{path: "apps.0.ap", want: "blog", neg: true, wantErr: `no key "ap"`},
		{path: "apps.3.app", want: "shop", neg: true, wantErr: "no index"},
		{path: "apps.0.app.len", want: "1", neg: true, wantErr: "len of a string"},
	}
	for _, tt := range tests {
		name := tt.path + "=" + tt.want
		if tt.neg {
			name = "!" + name
		}
		t.Run(name, func(t *testing.T) {
			err := checkJSON([]byte(doc), tt.path, tt.want, tt.neg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("checkJSON = %v, want it to pass", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("checkJSON passed, want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("checkJSON = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	if err := checkJSON([]byte("not json"), "a", "b", true); err == nil {
		t.Error("checkJSON passed on input that is not JSON")
	}
}
