// Package secrets stores the secret values of each app environment on the
// Slipway server: one JSON file per environment, 0600, in a 0700
// directory. It hands values to the deploy engine, which passes them to
// hooks through the environment and masks them in all output; it never
// puts them on a command line, in a release directory or in git.
package secrets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
)

// ErrBadName means a secret name is not a usable environment variable.
var ErrBadName = errors.New("a secret name must be letters, digits and _, not starting with a digit or SLIPWAY_")

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// ValidName reports whether name can be a secret (an environment variable).
func ValidName(name string) bool {
	return nameRE.MatchString(name) && !(len(name) >= 8 && name[:8] == "SLIPWAY_")
}

// Store keeps secrets under a directory. It is safe for concurrent use.
type Store struct {
	dir string
	mu  sync.Mutex
}

// Open returns the store under dir (created on first write).
func Open(dir string) *Store { return &Store{dir: dir} }

func (s *Store) file(app, env string) string {
	return filepath.Join(s.dir, app, env+".json")
}

// Get returns every secret of app/env.
func (s *Store) Get(app, env string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read(app, env)
}

func (s *Store) read(app, env string) (map[string]string, error) {
	data, err := os.ReadFile(s.file(app, env))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets: %w", err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read secrets of %s/%s: %w", app, env, err)
	}
	return m, nil
}

// Names returns the names of app/env's secrets, sorted; never values.
func (s *Store) Names(app, env string) ([]string, error) {
	m, err := s.Get(app, env)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

// Set stores value as the secret name of app/env.
func (s *Store) Set(app, env, name, value string) error {
	if !ValidName(name) {
		return ErrBadName
	}
	return s.update(app, env, func(m map[string]string) { m[name] = value })
}

// SetAll stores every name/value pair of values as secrets of app/env,
// all or none.
func (s *Store) SetAll(app, env string, values map[string]string) error {
	for name := range values {
		if !ValidName(name) {
			return ErrBadName
		}
	}
	return s.update(app, env, func(m map[string]string) {
		for name, v := range values {
			m[name] = v
		}
	})
}

// Unset removes a secret; it reports whether it existed.
func (s *Store) Unset(app, env, name string) (bool, error) {
	existed := false
	err := s.update(app, env, func(m map[string]string) {
		_, existed = m[name]
		delete(m, name)
	})
	return existed, err
}

func (s *Store) update(app, env string, change func(map[string]string)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.read(app, env)
	if err != nil {
		return err
	}
	change(m)
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	file := s.file(app, env)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".secrets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 before anything is written to it.
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
