//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// json FILE PATH WANT: decodes FILE (or "stdout") as JSON, follows PATH
// (dot-separated keys and list indexes, like apps.0.releases.1.outcome)
// and compares the value, printed as JSON scalars print, with WANT. With
// "len" as the last element it compares the length of a list or object.
// ! json checks that PATH exists and holds another value: a path that
// does not exist fails either way, so a misspelt path cannot pass.
func init() {
	scriptCommands["json"] = cmdJSON
}

func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: json FILE|stdout PATH WANT")
	}
	var data []byte
	if args[0] == "stdout" {
		data = []byte(ts.ReadFile("stdout"))
	} else {
		var err error
		if data, err = os.ReadFile(ts.MkAbs(args[0])); err != nil {
			ts.Fatalf("json: %v", err)
		}
	}
	if err := checkJSON(data, args[1], args[2], neg); err != nil {
		ts.Fatalf("json: %s: %v", args[0], err)
	}
}

// checkJSON is the json command's check on data; neg is its !.
func checkJSON(data []byte, path, want string, neg bool) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	got, err := walk(v, strings.Split(path, "."))
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if (got == want) == neg {
		not := ""
		if neg {
			not = "not "
		}
		return fmt.Errorf("%s = %q, want %s%q", path, got, not, want)
	}
	return nil
}

func walk(v any, path []string) (string, error) {
	for i, p := range path {
		if p == "len" && i == len(path)-1 {
			switch x := v.(type) {
			case []any:
				return strconv.Itoa(len(x)), nil
			case map[string]any:
				return strconv.Itoa(len(x)), nil
			}
			return "", fmt.Errorf("len of a %T", v)
		}
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[p]
			if !ok {
				return "", fmt.Errorf("no key %q", p)
			}
			v = next
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(x) {
				return "", fmt.Errorf("no index %q in a list of %d", p, len(x))
			}
			v = x[n]
		default:
			return "", fmt.Errorf("%q: not an object or list", p)
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "null", nil
	default:
		b, _ := json.Marshal(x)
		return string(b), nil
	}
}
