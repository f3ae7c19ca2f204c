package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The build cache is a directory per app and environment,
// DATA/cache/APP/ENV, that the build hook gets as SLIPWAY_CACHE_DIR and
// that outlives releases (npm's cache, GOCACHE). It is outside the
// staging tree, so nothing in it is shipped to a host. Builds of one
// environment never share it at the same time: they run under the
// environment's lock, and so does ClearCache.

// CacheDir is the build cache of app's environment env.
func (e *Engine) CacheDir(app, env string) string {
	return filepath.Join(e.DataDir, "cache", app, env)
}

// ensureCache creates the build cache of app/env if it is missing, 0700
// like every directory above it that it creates: a build may keep
// credentials there (an npm token in a cached .npmrc).
func (e *Engine) ensureCache(app, env string) (string, error) {
	dir := e.CacheDir(app, env)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create build cache: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("create build cache: %w", err)
	}
	return dir, nil
}

// CacheStats says what a cleared build cache held.
type CacheStats struct {
	Files int
	Bytes int64
}

// ClearCache empties the build cache of app/env and says what it held.
// It takes the environment's lock, so a deploy that is running (and may
// be building into the cache) makes it fail with a *LockedError, and no
// deploy starts while it runs. A cache never created holds nothing.
func (e *Engine) ClearCache(app, env, user string) (CacheStats, error) {
	var st CacheStats
	unlock, err := e.lock(app, env, user)
	if err != nil {
		return st, err
	}
	defer unlock()
	dir := e.CacheDir(app, env)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Some caches are read-only on purpose (Go's module cache);
			// their directories must be writable to be emptied.
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o700 != 0o700 {
				if err := os.Chmod(p, info.Mode().Perm()|0o700); err != nil {
					return err
				}
			}
			return nil
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			st.Files++
			st.Bytes += info.Size()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return CacheStats{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("measure build cache %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return st, fmt.Errorf("clear build cache %s: %w", dir, err)
	}
	return st, nil
}

// String reads "12.3 MB in 340 files".
func (s CacheStats) String() string {
	return humanBytes(s.Bytes) + " in " + count(s.Files, "file")
}
