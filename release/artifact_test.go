package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/config"
)

// entry is one member of a test archive.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeLink, mode: 0o644}
}

func tarball(t testing.TB, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w = &buf
	var zw *gzip.Writer
	tw := tar.NewWriter(w)
	if gz {
		zw = gzip.NewWriter(w)
		tw = tar.NewWriter(zw)
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func TestReceiveArtifactRefusesHostileArchives(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		limit   int64
		entry   string // the entry the refusal names
		rule    string
	}{
		{"absolute path", []entry{file("/etc/passwd", "x")}, 0, "/etc/passwd", "absolute path"},
		{"dot-dot", []entry{file("./../outside", "x")}, 0, "./../outside", "a path with .. leaves the release"},
		{"dot-dot inside", []entry{dir("a/"), file("a/../../x", "x")}, 0, "a/../../x", "a path with .. leaves the release"},
		{"unclean path", []entry{file("a//b", "x")}, 0, "a//b", "not a clean relative path"},
		{"absolute symlink", []entry{symlink("etc", "/etc")}, 0, "etc", "a symlink to the absolute path /etc points out of the release"},
		{"symlink up", []entry{dir("a"), symlink("a/up", "../..")}, 0, "a/up", "points out of the release"},
		{"symlink through a later symlink", []entry{symlink("a", "b/.."), symlink("b", ".")}, 0, "a", "points out of the release"},
		{"symlink through a deeper symlink", []entry{dir("x/y"), symlink("b", "x/y"), symlink("c", "b/../../..")}, 0, "c", "points out of the release"},
		{"symlink loop", []entry{symlink("a", "b"), symlink("b", "a")}, 0, "", "loop of symlinks"},
		{"write through a symlink", []entry{symlink("d", "."), file("d/f", "x")}, 0, "d/f", "its path goes through the symlink d"},
		{"write through a symlink out", []entry{symlink("d", "/tmp"), file("d/f", "x")}, 0, "", "points out of the release"},
		{"below a file", []entry{file("f", "x"), file("f/g", "y")}, 0, "f/g", "its parent f is a file"},
		{"duplicate file", []entry{file("f", "x"), file("f", "y")}, 0, "f", "the archive has this path twice"},
		{"symlink replaces a directory", []entry{file("d/f", "x"), symlink("d", "/")}, 0, "d", "the archive has this path twice"},
		{"hard link out", []entry{hardlink("pw", "/etc/passwd")}, 0, "pw", "a hard link must point to a regular file earlier in the archive"},
		{"hard link up", []entry{hardlink("pw", "../../etc/passwd")}, 0, "pw", "a hard link must point to a regular file earlier in the archive"},
		{"hard link to a later file", []entry{hardlink("a", "b"), file("b", "x")}, 0, "a", "a hard link must point to a regular file earlier"},
		{"hard link to a symlink", []entry{symlink("s", "x"), hardlink("a", "s")}, 0, "a", "a hard link must point to a regular file earlier"},
		{"character device", []entry{{name: "null", typ: tar.TypeChar, mode: 0o666}}, 0, "null", "device files are not allowed"},
		{"block device", []entry{{name: "sda", typ: tar.TypeBlock, mode: 0o660}}, 0, "sda", "device files are not allowed"},
		{"fifo", []entry{{name: "pipe", typ: tar.TypeFifo, mode: 0o644}}, 0, "pipe", "fifos are not allowed"},
		{"over max_release_size", []entry{file("a", "12345"), file("b", "67890")}, 8, "b", "add up to more than max_release_size (8 bytes)"},
		{"path too long", []entry{file(strings.Repeat("a/", 2048)+"f", "x")}, 0, "", "a path longer than 4095 bytes"},
		{"symlink target too long", []entry{symlink("s", strings.Repeat("./", 2048))}, 0, "s", "a symlink target longer than 4095 bytes"},
		{"hard links count as copies", []entry{file("a", "12345"), hardlink("b", "a")}, 8, "b", "add up to more than max_release_size"},
	}
	for _, tt := range tests {
		for _, gz := range []bool{false, true} {
			name := tt.name
			if gz {
				name += " gzip"
			}
			t.Run(name, func(t *testing.T) {
				e := &Engine{Connect: localHosts, DataDir: t.TempDir()}
				a, err := e.ReceiveArtifact("shop", bytes.NewReader(tarball(t, gz, tt.entries...)), 0, tt.limit)
				var ae *ArchiveError
				if !errors.As(err, &ae) {
					t.Fatalf("ReceiveArtifact = %v, %v; want an *ArchiveError", a, err)
				}
				if (tt.entry != "" && ae.Entry != tt.entry) || !strings.Contains(ae.Rule, tt.rule) {
					t.Errorf("refused %q for %q; want %q for %q", ae.Entry, ae.Rule, tt.entry, tt.rule)
				}
				if left, _ := os.ReadDir(e.artifactDir("shop")); len(left) != 0 {
					t.Errorf("a refused archive left %v behind", left)
				}
			})
		}
	}
}

func TestReceiveArtifactRefusesWholeStreams(t *testing.T) {
	good := tarball(t, true, file("index.html", "hello"))
	tests := []struct {
		name    string
		data    []byte
		maxSize int64
		rule    string
	}{
		{"nothing on stdin", nil, 0, "nothing was sent on standard input"},
		{"not an archive", []byte("hello, this is not tar at all, but it is long enough to be read as a header block of some kind"), 0, "not a valid tar"},
		{"broken gzip", []byte{0x1f, 0x8b, 1, 2, 3}, 0, "starts like gzip but is not"},
		{"over max_push_size", good, int64(len(good) - 1), "over max_push_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{Connect: localHosts, DataDir: t.TempDir()}
			_, err := e.ReceiveArtifact("shop", bytes.NewReader(tt.data), tt.maxSize, 0)
			var ae *ArchiveError
			if !errors.As(err, &ae) || !strings.Contains(ae.Rule, tt.rule) {
				t.Fatalf("ReceiveArtifact = %v; want a refusal saying %q", err, tt.rule)
			}
		})
	}
}

func TestExtractArtifact(t *testing.T) {
	for _, gz := range []bool{false, true} {
		data := tarball(t, gz,
			dir("./"), dir("./bin/"), entry{name: "./bin/start", body: "#!/bin/sh\n", typ: tar.TypeReg, mode: 0o4755},
			file("./index.html", "hello"), symlink("./home.html", "index.html"), symlink("./bin/up", "../index.html"),
			hardlink("./copy.html", "./index.html"), file("./assets/app.js", "js"))
		e := &Engine{Connect: localHosts, DataDir: t.TempDir()}
		a, err := e.ReceiveArtifact("shop", bytes.NewReader(data), int64(len(data)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		if a.SHA256 != hex.EncodeToString(want[:]) || a.Size != int64(len(data)) || a.Files != 4 {
			t.Errorf("artifact = %+v; want sha256 %x, %d bytes, 4 files", a, want, len(data))
		}
		dest := filepath.Join(t.TempDir(), "v1")
		m, st, err := ExtractArtifact(context.Background(), a, dest, nil, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if st.Files != 6 || st.Bytes != int64(len("#!/bin/sh\n")+5+5+2) {
			t.Errorf("stats = %+v", st)
		}
		fi, err := os.Stat(filepath.Join(dest, "bin/start"))
		if err != nil || fi.Mode().Perm() != 0o755 || fi.Mode()&os.ModeSetuid != 0 {
			t.Errorf("bin/start: %v, %v; want mode 0755 without setuid", fi.Mode(), err)
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "copy.html")); string(got) != "hello" {
			t.Errorf("copy.html = %q", got)
		}
		if target, _ := os.Readlink(filepath.Join(dest, "bin/up")); target != "../index.html" {
			t.Errorf("bin/up -> %q", target)
		}
		if m.Files["bin/start"].Mode != "100755" || m.Files["home.html"].Mode != "120000" || m.Files["index.html"].MTime != 1000 {
			t.Errorf("manifest = %+v", m.Files)
		}
		// A second extraction keeps the mtimes of unchanged files.
		dest2 := filepath.Join(t.TempDir(), "v2")
		m2, _, err := ExtractArtifact(context.Background(), a, dest2, m, 2000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Files["index.html"].MTime != 1000 {
			t.Errorf("unchanged file got mtime %d, want 1000", m2.Files["index.html"].MTime)
		}
		// An archive that changed on disk since it was received is refused.
		a.SHA256 = strings.Repeat("0", 64)
		if _, _, err := ExtractArtifact(context.Background(), a, filepath.Join(t.TempDir(), "v3"), nil, 0, 0); err == nil || !strings.Contains(err.Error(), "changed since it was received") {
			t.Errorf("ExtractArtifact with a wrong checksum = %v", err)
		}
	}
}

func TestExtractArtifactWritesNothingForAHostileArchive(t *testing.T) {
	// The scan refuses it before the staging directory exists.
	data := tarball(t, false, file("ok", "fine"), symlink("d", "."), file("d/f", "x"))
	f := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(f, data, 0o600)
	sum := sha256.Sum256(data)
	dest := filepath.Join(t.TempDir(), "v1")
	_, _, err := ExtractArtifact(context.Background(), &Artifact{File: f, SHA256: hex.EncodeToString(sum[:])}, dest, nil, 0, 0)
	var ae *ArchiveError
	if !errors.As(err, &ae) {
		t.Fatalf("ExtractArtifact = %v; want an *ArchiveError", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("the staging tree exists: %v", err)
	}
}

// FuzzScanArchive feeds arbitrary streams to the archive checks: they
// must never panic, and must refuse with an *ArchiveError.
func FuzzScanArchive(f *testing.F) {
	f.Add(tarball(f, false, dir("./"), file("./index.html", "hi"), symlink("./home.html", "index.html")))
	f.Add(tarball(f, true, dir("a"), symlink("a/up", "../..")))
	f.Add(tarball(f, false, symlink("a", "b/.."), symlink("b", ".")))
	f.Add(tarball(f, false, file("a", "x"), hardlink("b", "a"), hardlink("c", "/etc/passwd")))
	f.Add(tarball(f, false, entry{name: "null", typ: tar.TypeChar, mode: 0o666}))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := scanArchive(bytes.NewReader(data), 1<<20)
		var ae *ArchiveError
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("scanArchive = %v; want an *ArchiveError", err)
		}
		if err == nil && (st.Bytes > 1<<20 || st.Files < 0) {
			t.Fatalf("accepted %+v over the limit", st)
		}
	})
}

// An artifact is the whole tree of its release: in an environment with a
// subdir, a commit whose subdir is unchanged still makes a release when
// it comes with an artifact, and the tag records the checksum.
func TestArtifactDeployIgnoresSubdir(t *testing.T) {
	bare, _, c1 := monorepo(t)
	h := newMemHost("web-1", "")
	e := testEngine(t, h)
	env := testEnv([]string{"100%"}, h)
	env.Branch, env.Subdir, env.Health = "main", "services/api", nil
	req := Request{App: &config.App{Name: "shop", KeepReleases: 5}, Env: env, Repo: bare, Commit: c1, Old: c1, User: "alice"}
	ctx := context.Background()
	var out bytes.Buffer
	if res, err := e.Deploy(ctx, req, &out); err != nil || res.Release != "v1" {
		t.Fatalf("first deploy = %+v, %v\n%s", res, err, out.String())
	}
	if res, err := e.Deploy(ctx, req, &out); err != nil || !res.Unchanged {
		t.Fatalf("second deploy of the same commit = %+v, %v; want unchanged", res, err)
	}
	data := tarball(t, true, file("index.html", "built"))
	a, err := e.ReceiveArtifact("shop", bytes.NewReader(data), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Discard()
	req.Artifact = a
	res, err := e.Deploy(ctx, req, &out)
	if err != nil || res.Release != "v2" || res.Unchanged {
		t.Fatalf("artifact deploy = %+v, %v; want v2\n%s", res, err, out.String())
	}
	tag, err := ReadTag(bare, "v2")
	if err != nil || tag.Artifact != "sha256:"+a.SHA256 {
		t.Errorf("tag v2 = %+v, %v; want artifact sha256:%s", tag, err, a.SHA256)
	}
	if _, err := os.Stat(e.artifactFile("shop", "v2")); err != nil {
		t.Errorf("the artifact of v2 is not kept: %v", err)
	}
	if cur, _, _, _ := h.state(); cur != "v2" {
		t.Errorf("web-1 runs %q, want v2", cur)
	}
	if !strings.Contains(out.String(), "release v2 (") || !strings.Contains(out.String(), "from the artifact") {
		t.Errorf("output:\n%s", out.String())
	}
}

// An archive a stopped daemon was still receiving is removed when the next
// one starts; kept artifacts stay.
func TestRecoverRemovesHalfReceivedArtifacts(t *testing.T) {
	e := testEngine(t)
	dir := e.artifactDir("shop")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(dir, ".incoming-123")
	kept := e.artifactFile("shop", "v3")
	for _, f := range []string{half, kept} {
		if err := os.WriteFile(f, []byte("tar"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Recover(context.Background(), &config.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v, want it removed", half, err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("kept artifact: %v", err)
	}
}

// A few symlinks that each name the next several times resolve to the
// root, but only through more symlinks than a host follows: the scan
// refuses them at once instead of following every path (4^30 of them).
func TestReceiveArtifactRefusesSymlinkFanOut(t *testing.T) {
	const depth = 30
	var entries []entry
	for i := range depth {
		next := fmt.Sprintf("s%d/", i+1)
		entries = append(entries, symlink(fmt.Sprintf("s%d", i), strings.Repeat(next, 4)+"."))
	}
	entries = append(entries, symlink(fmt.Sprintf("s%d", depth), "."))
	e := &Engine{Connect: localHosts, DataDir: t.TempDir()}
	_, err := e.ReceiveArtifact("shop", bytes.NewReader(tarball(t, true, entries...)), 0, 0)
	var ae *ArchiveError
	if !errors.As(err, &ae) || !strings.Contains(ae.Rule, "loop of symlinks") {
		t.Fatalf("ReceiveArtifact = %v; want a refusal for too many symlinks", err)
	}
}

// Symlinks within the kernel's bound still resolve.
func TestReceiveArtifactAcceptsSymlinkChains(t *testing.T) {
	var entries []entry
	for i := range 39 {
		entries = append(entries, symlink(fmt.Sprintf("s%d", i), fmt.Sprintf("s%d", i+1)))
	}
	entries = append(entries, dir("s39"))
	e := &Engine{Connect: localHosts, DataDir: t.TempDir()}
	a, err := e.ReceiveArtifact("shop", bytes.NewReader(tarball(t, false, entries...)), 0, 0)
	if err != nil {
		t.Fatalf("ReceiveArtifact = %v", err)
	}
	a.Discard()
}

// The directories an archive leaves implicit count against the bound on
// paths: they take inodes on the hosts too.
func TestReceiveArtifactCountsImplicitDirectories(t *testing.T) {
	deep := strings.Repeat("a/", 99)
	var entries []entry
	for i := range maxArchiveEntries/100 + 1 {
		entries = append(entries, file(fmt.Sprintf("d%d/%sf", i, deep), ""))
	}
	e := &Engine{Connect: localHosts, DataDir: t.TempDir()}
	_, err := e.ReceiveArtifact("shop", bytes.NewReader(tarball(t, true, entries...)), 0, 0)
	var ae *ArchiveError
	if !errors.As(err, &ae) || !strings.Contains(ae.Rule, "paths, its implicit directories included") {
		t.Fatalf("ReceiveArtifact = %v; want a refusal for too many paths", err)
	}
}

// Paths that add up to more than maxNameBytes are refused: checking an
// archive keeps them all in memory.
func TestScanRefusesTooManyPathBytes(t *testing.T) {
	// Distinct paths of maxPathLen bytes, all cut from one buffer.
	const n = maxNameBytes/maxPathLen + 1
	buf := make([]byte, maxPathLen+n)
	for i := range buf {
		buf[i] = 'a' + byte(rand.IntN(26))
	}
	all := string(buf)
	s := newScanner(0)
	for i := range n {
		err := s.entry(&tar.Header{Name: all[i : i+maxPathLen], Typeflag: tar.TypeReg}, all[i:i+maxPathLen])
		var ae *ArchiveError
		if errors.As(err, &ae) && strings.Contains(ae.Rule, "paths add up to more than 256 MiB") {
			return
		}
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	t.Fatalf("%d paths of %d bytes were accepted", n, maxPathLen)
}

// Symlinks whose targets go deep into the tree cost the length of every
// prefix to resolve; past a bound the archive is refused.
func TestReceiveArtifactRefusesSymlinksTooCostlyToCheck(t *testing.T) {
	deep := strings.TrimSuffix(strings.Repeat("a/", maxPathLen/2), "/")
	s := newScanner(0)
	s.maxLookups = 8 << 20                             // the bound's logic, at a cost a test can pay
	perLink := int64(len(deep)) * int64(len(deep)) / 4 // about: the prefixes of deep
	entries := []*tar.Header{{Name: deep + "/", Typeflag: tar.TypeDir}}
	for i := range s.maxLookups/perLink + 2 {
		entries = append(entries, &tar.Header{Name: fmt.Sprintf("s%d", i), Typeflag: tar.TypeSymlink, Linkname: deep})
	}
	for _, h := range entries {
		if err := s.entry(h, strings.TrimSuffix(h.Name, "/")); err != nil {
			t.Fatalf("entry %s: %v", h.Name, err)
		}
	}
	err := s.finish()
	var ae *ArchiveError
	if !errors.As(err, &ae) || !strings.Contains(ae.Rule, "too many and too deep to check") {
		t.Fatalf("finish = %v; want a refusal for symlinks too costly to check", err)
	}
	if s.lookups > s.maxLookups+int64(maxPathLen)*int64(maxPathLen) {
		t.Errorf("looked up %d bytes of paths, bound %d: the check did not stop at the bound", s.lookups, s.maxLookups)
	}
}
