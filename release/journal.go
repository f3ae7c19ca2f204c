package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/release/host"
)

// ErrUnsettled means an earlier deploy of the environment is not rolled
// back on every host yet (a host was out of reach).
var ErrUnsettled = errors.New("an earlier deploy is not rolled back on every host yet")

// journalPhase is how far a journaled deploy got, which decides what
// recovery does with it.
type journalPhase string

const (
	journalShip      journalPhase = "ship"      // uploading: nothing switched yet
	journalSwitch    journalPhase = "switch"    // hosts may be switched: roll them back
	journalFailed    journalPhase = "failed"    // rolled back, the outcome not yet recorded
	journalFinishing journalPhase = "finishing" // every host live: complete the bookkeeping
)

// journal is what a running deploy has done so far, kept on disk so that
// a daemon that crashed can put every host back on one release when it
// starts again. It is written before each step that changes a host.
type journal struct {
	App      string            `json:"app"`
	Env      string            `json:"env"`
	Repo     string            `json:"repo"`
	Release  string            `json:"release"`
	Commit   string            `json:"commit"`
	User     string            `json:"user"`
	Hosts    []string          `json:"hosts"`
	Prev     map[string]string `json:"prev"` // host → release before the deploy
	Phase    journalPhase      `json:"phase"`
	Rollback bool              `json:"rollback,omitempty"` // Release is an earlier release made live again
	Old      string            `json:"old,omitempty"`      // the branch before the deploy (phase finishing)
	From     string            `json:"from,omitempty"`     // the release a rollback replaced (phase finishing)
	Started  time.Time         `json:"started"`
}

func (e *Engine) journalFile(app, env string) string {
	return filepath.Join(e.DataDir, "journal", app, env+".json")
}

func (e *Engine) writeJournal(j *journal) error {
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(e.journalFile(j.App, j.Env), data, 0o600); err != nil {
		return fmt.Errorf("write deploy journal: %w", err)
	}
	return nil
}

func (e *Engine) clearJournal(app, env string) {
	// Synced: a journal that came back after a power loss would undo a
	// deploy that went live.
	if err := durable.Remove(e.journalFile(app, env)); err != nil {
		e.Log.Error().Err(err).Str("app", app).Str("env", env).Msg("cannot remove deploy journal")
	}
}

// Recover finishes what deploys interrupted by a crash left: every host
// that was switched to the interrupted release goes back to the release
// it ran before, the release directory is removed, and the outcome is
// recorded. A journal whose hosts cannot all be reached is kept, and
// recovery is tried again on the next start. A journal that cannot be
// read is kept as it is and its environment refuses deploys (see
// FileError) until an operator has checked the hosts and removed it.
// Call it before serving, once no process of an earlier daemon runs any
// more (see ProcGroup): a leftover ssh or rsync could still change a
// host behind recovery's back.
func (e *Engine) Recover(ctx context.Context, cfg *config.Config) error {
	e.removeIncomingArtifacts()
	files, _ := filepath.Glob(filepath.Join(e.DataDir, "journal", "*", "*.json"))
	var failed int
	for _, f := range files {
		err := e.recoverOne(ctx, cfg, f)
		var fe *FileError
		switch {
		case err == nil:
		case errors.As(err, &fe):
			e.Log.Error().Str("app", fe.App).Str("env", fe.Env).Str("journal", f).Err(fe.Err).Msg(fe.Error())
			failed++
		default:
			e.Log.Error().Err(err).Str("journal", f).Msg("interrupted deploy not recovered; will retry on next start")
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d interrupted deploys could not be recovered", failed)
	}
	return nil
}

func (e *Engine) recoverOne(ctx context.Context, cfg *config.Config, file string) error {
	j, err := readJournal(file)
	if err != nil {
		return err
	}
	app, ok := cfg.App(j.App)
	if !ok {
		return fmt.Errorf("app %s is no longer configured", j.App)
	}
	env, ok := app.Environment(j.Env)
	if !ok {
		return fmt.Errorf("environment %s/%s is no longer configured", j.App, j.Env)
	}
	return e.rollbackJournal(ctx, env, j)
}

// readJournal reads a journal and checks that it is one Slipway wrote for
// the environment its path names: a journal that parses but names no
// release or no hosts would make recovery do nothing and drop it.
func readJournal(file string) (*journal, error) {
	var j journal
	found, err := readJSON(file, KindJournal, &j)
	if err == nil && !found {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	fe := newFileError(file, KindJournal, nil)
	_, relOK := host.ParseRelease(j.Release)
	switch {
	case j.App != fe.App || j.Env != fe.Env:
		fe.Err = fmt.Errorf("it is not the journal of %s/%s", fe.App, fe.Env)
	case !relOK || len(j.Hosts) == 0:
		fe.Err = errors.New("it names no release or no hosts")
	case !slices.Contains([]journalPhase{journalShip, journalSwitch, journalFailed, journalFinishing}, j.Phase):
		fe.Err = fmt.Errorf("unknown phase %q", j.Phase)
	}
	if fe.Err != nil {
		return nil, fe
	}
	return &j, nil
}

// rollbackJournal puts every host of an interrupted or half rolled back
// deploy back on the release it ran before, then forgets the journal. A
// deploy that was live everywhere and only finishing is completed instead.
func (e *Engine) rollbackJournal(ctx context.Context, env *config.Environment, j *journal) error {
	if j.Phase == journalFinishing {
		return e.completeJournal(ctx, env, j)
	}
	log := e.Log.With().Str("app", j.App).Str("env", j.Env).Str("release", j.Release).Logger()
	log.Warn().Str("phase", string(j.Phase)).Time("started", j.Started).Msg("found an unfinished deploy; rolling it back")
	var problems []error
	var switched []string // hosts recovery switched back: the only ones it reports
	for _, name := range j.Hosts {
		h, err := e.connect(ctx, env, name)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", name, err))
			continue
		}
		prev, known := j.Prev[name]
		if !known && j.Rollback {
			// A rollback cut short before it learned what this host ran:
			// it never switched it.
			h.Close()
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		back, err := recoverHost(hctx, h, j.Release, prev, !j.Rollback)
		cancel()
		h.Close()
		if back {
			switched = append(switched, name)
			log.Info().Str("host", name).Str("current", orNone(prev)).Msg("host switched back to " + orNone(prev))
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", name, err))
			continue
		}
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	if j.Repo != "" && j.Commit != "" && j.Phase != journalFailed {
		went := "; hosts went back"
		if len(switched) == 0 {
			went = " before any host was switched"
		}
		ev := Event{Release: j.Release, Env: j.Env, Outcome: OutcomeInterrupted, Time: time.Now(), User: j.User,
			Detail: "the deploy started at " + j.Started.UTC().Format(time.RFC3339) + " was cut short by a daemon restart" + went}
		if j.Rollback {
			ev.Outcome, ev.Detail = OutcomeFailed, "rollback to it was cut short by a daemon restart"+went
		}
		mu := e.appMutex(j.App)
		mu.Lock()
		err := recordEvent(ctx, j.Repo, j.Commit, ev)
		mu.Unlock()
		if err != nil {
			log.Error().Err(err).Msg("cannot record the outcome")
		}
	}
	e.cleanStaging(j.App, j.Env)
	if !j.Rollback {
		// The interrupted release is removed from the hosts; so is its
		// artifact, if it had one.
		e.removeArtifact(j.App, j.Release)
	}
	e.clearJournal(j.App, j.Env)
	if len(switched) == 0 {
		log.Warn().Msg("unfinished deploy rolled back; no host had been switched to " + j.Release)
	} else {
		log.Warn().Strs("switched_back", switched).Msg("unfinished deploy rolled back; switched back " + strings.Join(switched, ", "))
	}
	return nil
}

// settle rolls back what an earlier deploy of env left unfinished, before
// a new deploy starts. It fails if a host is still out of reach.
func (e *Engine) settle(ctx context.Context, env *config.Environment) error {
	file := e.journalFile(env.App, env.Name)
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	j, err := readJournal(file)
	if err != nil {
		return err
	}
	if err := e.rollbackJournal(ctx, env, j); err != nil {
		return fmt.Errorf("%w: %s of %s/%s (%v); bring the hosts back, then push again", ErrUnsettled, j.Release, j.App, j.Env, err)
	}
	return nil
}

// recoverHost puts h back on prev if it was switched to rel, and removes
// rel when it is the release the interrupted deploy created. switched
// says whether it switched h back, which is what recovery reports.
func recoverHost(ctx context.Context, h host.Host, rel, prev string, remove bool) (switched bool, err error) {
	info, err := h.Open(ctx)
	if err != nil {
		return false, err
	}
	if info.Current == rel {
		if _, err := h.Switch(ctx, prev, 0); err != nil {
			return false, fmt.Errorf("switch back to %s: %w", orNone(prev), err)
		}
		switched = true
	}
	if !remove {
		return switched, nil
	}
	return switched, h.Remove(ctx, rel)
}

func orNone(rel string) string {
	if rel == "" {
		return "none"
	}
	return rel
}

// completeJournal finishes a deploy that a restart interrupted after every
// host was live: the branch moves and the history records it.
func (e *Engine) completeJournal(ctx context.Context, env *config.Environment, j *journal) error {
	app := &config.App{Name: j.App}
	d := &deploy{e: e, p: newPrinter(nil), rel: j.Release, from: j.From,
		req: Request{App: app, Env: env, Repo: j.Repo, Commit: j.Commit, Old: j.Old, User: j.User, Rollback: map[bool]string{true: j.Release}[j.Rollback]}}
	d.log = e.Log.With().Str("app", j.App).Str("env", j.Env).Str("release", j.Release).Logger()
	d.finish(ctx, time.Since(j.Started))
	e.clearJournal(j.App, j.Env)
	d.log.Warn().Msg("unfinished deploy completed: every host ran the release already")
	return nil
}
