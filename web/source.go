package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
)

// Source is where the dashboard and the metrics read what Slipway knows:
// the configuration in force (read again on every request, so a SIGHUP
// applies at once), the engine's locks, state and pending releases, and
// the history of each app's repository.
type Source struct {
	Config  func() *config.Config
	Engine  *release.Engine
	DataDir string

	mu    sync.Mutex
	cache map[string]*history // app → history, while its refs are unchanged
}

// history is an app's releases and the commit time of each released
// commit, read once per change of its tags or notes.
type history struct {
	key         string
	rels        []*release.Release
	commitTimes map[string]time.Time
}

func (s *Source) repoDir(app string) string {
	return filepath.Join(s.DataDir, "repos", app+".git")
}

// apps returns the configured apps and those made from the template that
// have a repository, sorted, as `status` lists them.
func (s *Source) apps(cfg *config.Config) []*config.App {
	seen := map[string]bool{}
	for name := range cfg.Apps {
		if name != config.TemplateApp {
			seen[name] = true
		}
	}
	repos, _ := filepath.Glob(filepath.Join(s.DataDir, "repos", "*.git"))
	for _, r := range repos {
		seen[strings.TrimSuffix(filepath.Base(r), ".git")] = true
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*config.App
	for _, name := range names {
		if a, ok := cfg.App(name); ok {
			out = append(out, a)
		}
	}
	return out
}

func sortedEnvs(a *config.App) []*config.Environment {
	envs := make([]*config.Environment, 0, len(a.Environments))
	for _, e := range a.Environments {
		envs = append(envs, e)
	}
	sort.Slice(envs, func(i, j int) bool { return envs[i].Name < envs[j].Name })
	return envs
}

// history returns the releases of app, newest first; an app never pushed
// has none. It reads the repository again only when its release tags or
// its notes changed since the last call.
func (s *Source) history(ctx context.Context, app string) (*history, error) {
	// What deploys that gave their verdict still write (notes, host
	// state), unless the request gives up first.
	s.Engine.WaitContext(ctx, app, "")
	repo := s.repoDir(app)
	if _, err := os.Stat(repo); err != nil {
		return &history{}, nil
	}
	key, err := historyKey(repo)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	h := s.cache[app]
	s.mu.Unlock()
	if h != nil && h.key == key {
		return h, nil
	}
	rels, err := release.History(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", app, err)
	}
	h = &history{key: key, rels: rels, commitTimes: commitTimes(repo, rels)}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]*history{}
	}
	s.cache[app] = h
	s.mu.Unlock()
	return h, nil
}

// historyKey changes whenever a release tag or a note is added.
func historyKey(repo string) (string, error) {
	r, err := git.PlainOpen(repo)
	if err != nil {
		return "", fmt.Errorf("open repository: %w", err)
	}
	notes := "none"
	if ref, err := r.Reference(plumbing.ReferenceName(release.NotesRef), true); err == nil {
		notes = ref.Hash().String()
	}
	last, err := release.LastRelease(repo)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %d", notes, last), nil
}

// commitTimes returns the committer time of each released commit; commits
// that cannot be read are left out.
func commitTimes(repo string, rels []*release.Release) map[string]time.Time {
	out := map[string]time.Time{}
	r, err := git.PlainOpen(repo)
	if err != nil {
		return out
	}
	for _, rel := range rels {
		if _, ok := out[rel.Commit]; ok {
			continue
		}
		if c, err := r.CommitObject(plumbing.NewHash(rel.Commit)); err == nil {
			out[rel.Commit] = c.Committer.When
		}
	}
	return out
}
