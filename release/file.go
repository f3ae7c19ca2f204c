package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Kinds of files the engine keeps in the data directory, as FileError
// names them.
const (
	KindJournal  = "deploy journal"  // DATA/journal/APP/ENV.json
	KindPending  = "pending release" // DATA/pending/APP/ENV.json
	KindState    = "host state"      // DATA/state/APP/ENV.json
	KindManifest = "manifest"        // DATA/manifests/APP/vN.json
	KindChildren = "process record"  // DATA/run/children.json
	KindFreeze   = "deploy lock"     // DATA/locks/APP/ENV.json
)

// FileError is a file of the data directory that exists but cannot be
// read back: empty, truncated, not JSON, not what Slipway wrote, or
// unreadable. Slipway never takes such a file for a missing one, because
// what it held is unknown: Error says what the damage stops and what an
// operator should do.
type FileError struct {
	Path     string // the file
	Kind     string // KindJournal, KindPending, ...
	App, Env string // the environment it belongs to, from its path
	Err      error  // the read or decode error
}

func (e *FileError) Error() string {
	where := e.App + "/" + e.Env
	what := fmt.Sprintf("the %s file %s is %s", e.Kind, e.Path, e.cause())
	switch e.Kind {
	case KindJournal:
		return what + ": Slipway cannot tell which hosts an interrupted deploy of " + where +
			" switched, so it deploys nothing there; check where current points on each host (slipway check)," +
			" put them back on one release if they differ, then remove the file"
	case KindPending:
		return what + ": deploys of " + where + " are refused until an operator fixes or removes it" +
			" (removing it drops the release that waited for approval)"
	case KindState:
		return what + ": the state of the hosts of " + where + " is unknown until the next deploy of " + where + " rewrites it"
	case KindChildren:
		return what + ": Slipway cannot tell whether ssh or rsync processes of an earlier slipway serve still run;" +
			" stop any that do, then remove the file"
	case KindFreeze:
		return what + ": deploys of " + where + " are refused until an operator fixes or removes it" +
			" (removing it lifts the lock)"
	default:
		return what + "; fix or remove it"
	}
}

func (e *FileError) Unwrap() error { return e.Err }

// cause says in a few words what is wrong with the file.
func (e *FileError) cause() string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var pe *fs.PathError
	switch {
	case errors.Is(e.Err, errEmptyFile):
		return "empty"
	case errors.Is(e.Err, io.ErrUnexpectedEOF) || (e.Err != nil && e.Err.Error() == "unexpected end of JSON input"):
		return "truncated"
	case errors.As(e.Err, &syn):
		return fmt.Sprintf("not valid JSON (at byte %d)", syn.Offset)
	case errors.As(e.Err, &typ):
		return fmt.Sprintf("not in the form Slipway writes (field %q)", typ.Field)
	case errors.As(e.Err, &pe):
		return "unreadable (" + pe.Err.Error() + ")"
	case e.Err != nil:
		return "damaged (" + e.Err.Error() + ")"
	default:
		return "damaged"
	}
}

var errEmptyFile = errors.New("empty file")

// readJSON decodes the JSON file into v. A missing file is not an error:
// found is false. Any other failure is a *FileError of kind.
func readJSON(file, kind string, v any) (found bool, err error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err == nil && len(strings.TrimSpace(string(data))) == 0 {
		err = errEmptyFile
	}
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		return true, newFileError(file, kind, err)
	}
	return true, nil
}

// newFileError names the environment of a DATA/KIND/APP/ENV.json file.
func newFileError(file, kind string, err error) *FileError {
	return &FileError{Path: file, Kind: kind, App: filepath.Base(filepath.Dir(file)),
		Env: strings.TrimSuffix(filepath.Base(file), ".json"), Err: err}
}
