package gitserver

// Repositories served by another git server on this machine (a bare
// repository over OpenSSH, gitolite, Gitea, GitLab) deploy through a
// second unix socket. There is no push token there: the daemon's own SSH
// server did not see the push. Instead:
//
//   - the socket is 0600, or 0660 with [external] socket_group, so only
//     the daemon's user and that group can connect at all;
//   - the daemon reads the connecting process's uid from the kernel
//     (SO_PEERCRED) and accepts only [external] os_users, or, with
//     identity = "os", takes that OS user as the pusher;
//   - the pusher's name comes from the variable of the git server that
//     [external] identity names, which that server sets for its hooks and
//     its users cannot (GL_USER, GITEA_PUSHER_NAME, GL_USERNAME);
//   - the repository is the one configured as [apps.NAME] repository: the
//     path the hook sends must be that same directory, and the deploy
//     reads the configured path, never the claimed one.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/textclean"
)

// externalClaim is what a hook in an external repository says about its
// push. None of it is believed as such: see handleExternal.
type externalClaim struct {
	App  string `json:"app"`
	Repo string `json:"repo"` // the repository git runs the hook in, absolute
	// Vars are the identity variables of the git servers Slipway knows,
	// as the hook found them; the daemon reads the one that
	// [external] identity names and ignores the others.
	Vars map[string]string `json:"vars,omitempty"`
}

// identityVars is the variable each git server sets to its pusher's name.
var identityVars = map[string]string{
	config.IdentityGitolite: "GL_USER",
	config.IdentityGitea:    "GITEA_PUSHER_NAME",
	config.IdentityGitLab:   "GL_USERNAME",
}

// RunExternalProcReceive is the proc-receive hook of a repository that
// another git server serves (written by slipway install-hook). It sends
// the push to the daemon's external socket with app, the repository git
// runs it in (gitDir, made absolute against the working directory) and
// the identity variables found in getenv.
func RunExternalProcReceive(in io.Reader, out, stderr io.Writer, socket, app, gitDir string, getenv func(string) string) error {
	if gitDir == "" {
		gitDir = "."
	}
	repo, err := filepath.Abs(gitDir)
	if err != nil {
		return fmt.Errorf("find the repository: %w", err)
	}
	claim := &externalClaim{App: app, Repo: repo, Vars: map[string]string{}}
	for _, name := range identityVars {
		if v := getenv(name); v != "" {
			claim.Vars[name] = v
		}
	}
	return runProcReceive(in, out, stderr, socket, hookRequest{External: claim})
}

// externalPusher decides who pushed, from the configured identity, the
// OS user of the hook process (uid and, when known, name) and the
// variables the hook sent. It returns a sentence for the pusher when the
// hook may not speak for anyone.
func externalPusher(x *config.External, uid, osName string, vars map[string]string) (string, error) {
	allowed := len(x.OSUsers) == 0 && x.Identity == config.IdentityOS ||
		slices.Contains(x.OSUsers, uid) || osName != "" && slices.Contains(x.OSUsers, osName)
	if !allowed {
		who := "uid " + uid
		if osName != "" {
			who = osName + " (uid " + uid + ")"
		}
		return "", fmt.Errorf("this git server's hooks run as %s, which Slipway does not accept; an admin adds that account to [external] os_users", who)
	}
	if x.Identity == config.IdentityOS {
		if osName == "" {
			return "", fmt.Errorf("uid %s has no user name on the deploy server, so Slipway cannot tell who pushed", uid)
		}
		if !config.ValidUserName(osName) {
			return "", fmt.Errorf("the OS user %q cannot be a Slipway user name (lowercase letters, digits, '.', '_' or '-')", osName)
		}
		return osName, nil
	}
	name := identityVars[x.Identity]
	v := vars[name]
	if v == "" {
		return "", fmt.Errorf("the git server did not say who pushed (%s is not set for its hook); check [external] identity = %q", name, x.Identity)
	}
	if x.Identity != config.IdentityGitolite {
		// Gitea and GitLab user names do not depend on case.
		v = strings.ToLower(v)
	}
	if !config.ValidUserName(v) {
		return "", fmt.Errorf("the git server's user name %q cannot be a Slipway user name (lowercase letters, digits, '.', '_' or '-')", textclean.Line(v, 80))
	}
	return v, nil
}

// sameRepository reports whether the repository a hook claims to run in
// is the directory configured for the app.
func sameRepository(claimed, configured string) bool {
	a, err := os.Stat(claimed)
	if err != nil {
		return false
	}
	b, err := os.Stat(configured)
	return err == nil && os.SameFile(a, b)
}

// externalListener accepts hooks of repositories served elsewhere.
type externalListener struct {
	s    *Server
	ln   net.Listener
	path string
}

// listenExternal opens the external socket of x: mode 0600, or 0660 and
// owned by x.SocketGroup.
func (s *Server) listenExternal(x *config.External) (*externalListener, error) {
	gid := -1
	if x.SocketGroup != "" {
		g, err := user.LookupGroup(x.SocketGroup)
		if err != nil {
			g, err = user.LookupGroupId(x.SocketGroup)
		}
		if err != nil {
			return nil, fmt.Errorf("external socket: no group %q on this machine", x.SocketGroup)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	dir := filepath.Dir(x.Socket)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		mode := os.FileMode(0o700)
		if gid >= 0 {
			mode = 0o750
		}
		if err := os.MkdirAll(dir, mode); err != nil {
			return nil, fmt.Errorf("external socket: %w", err)
		}
		if gid >= 0 {
			if err := os.Chown(dir, -1, gid); err != nil {
				return nil, fmt.Errorf("external socket: %w", err)
			}
		}
	}
	os.Remove(x.Socket) // a socket left by a previous run
	ln, err := net.Listen("unix", x.Socket)
	if err != nil {
		return nil, fmt.Errorf("listen on the external socket: %w", err)
	}
	mode := os.FileMode(0o600)
	if gid >= 0 {
		mode = 0o660
		if err := os.Chown(x.Socket, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("external socket: give it to group %s: %w", x.SocketGroup, err)
		}
	}
	if err := os.Chmod(x.Socket, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("external socket: %w", err)
	}
	return &externalListener{s: s, ln: ln, path: x.Socket}, nil
}

func (el *externalListener) serve() {
	for {
		conn, err := el.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			el.s.handleExternal(conn)
		}()
	}
}

// close stops accepting hooks. Those running are counted by the session
// gate, which a stop waits for.
func (el *externalListener) close() {
	if el != nil {
		el.ln.Close()
	}
}

// handleExternal is handleHook for a repository served elsewhere: the
// checks described at the top of this file replace the push token.
func (s *Server) handleExternal(conn net.Conn) {
	uid, err := peerUID(conn)
	if err != nil {
		s.Log.Warn().Err(err).Msg("external hook refused: cannot tell who connected")
		return
	}
	var req hookRequest
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	err = json.NewDecoder(bufio.NewReader(conn)).Decode(&req)
	conn.SetReadDeadline(time.Time{})
	out := &lineWriter{conn: conn, enc: json.NewEncoder(conn)}
	if err != nil || req.External == nil {
		s.Log.Warn().Err(err).Int("uid", uid).Msg("bad request on the external socket")
		return
	}
	refuse := func(reason, msg string) {
		fmt.Fprintln(out, "slipway: "+msg)
		out.send(hookMessage{Report: rejectAll(req.Commands, reason), Done: true})
	}
	// A push of another git server is no session of ours: a stopping
	// daemon takes no new ones.
	if !s.sessions.enter(false) {
		refuse("slipway is stopping", "the deploy server is stopping; push again in a moment")
		return
	}
	defer s.sessions.leave()

	cfg := s.Config()
	claim := req.External
	log := s.Log.With().Int("uid", uid).Str("app", textclean.Line(claim.App, 80)).Str("repo", textclean.Line(claim.Repo, 80)).Logger()
	if cfg.External == nil {
		log.Info().Msg("external hook refused: [external] is not configured")
		refuse("slipway does not deploy for this git server", "this deploy server takes no pushes from other git servers (no [external] in its configuration)")
		return
	}
	osName := ""
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		osName = u.Username
	}
	pusher, err := externalPusher(cfg.External, strconv.Itoa(uid), osName, claim.Vars)
	if err != nil {
		log.Info().Str("os_user", osName).Err(err).Msg("external hook refused")
		refuse("slipway cannot tell who pushed", err.Error())
		return
	}
	log = log.With().Str("user", pusher).Logger()
	app, ok := cfg.Apps[claim.App]
	if !ok || claim.App == config.TemplateApp || app.Repository == "" {
		log.Info().Msg("external hook refused: no app with this repository")
		refuse("no such app on the deploy server", fmt.Sprintf("the deploy server has no app %q with a repository on this git server; an admin sets [apps.%s] repository, then runs slipway install-hook again", textclean.Line(claim.App, 80), textclean.Line(claim.App, 80)))
		return
	}
	if !sameRepository(claim.Repo, app.Repository) {
		log.Info().Str("configured", app.Repository).Msg("external hook refused: not the app's repository")
		refuse("not the app's repository", fmt.Sprintf("this repository is not the one configured for %s (%s), so Slipway does not deploy from it", app.Name, app.Repository))
		return
	}
	id := identity{User: pusher, Key: "external " + cfg.External.Identity}
	if !cfg.CanPush(pusher) {
		log.Info().Str("role", roleOf(cfg, pusher)).Msg("external push refused")
		s.audit(audit.Record{Event: audit.EventRefused, User: pusher, Key: id.Key, App: app.Name, Detail: "push by a reader or unknown user"})
		if _, known := cfg.User(pusher); !known {
			refuse("permission denied", fmt.Sprintf("%s is not a user of the deploy server; an admin adds them to [[users]] with the deployer role", pusher))
		} else {
			refuse("permission denied", fmt.Sprintf("%s may read but not push (role %s); pushing needs the deployer or admin role", pusher, roleOf(cfg, pusher)))
		}
		return
	}
	s.runPush(&pushSession{identity: id, App: app.Name, Repo: app.Repository}, req, out)
}
