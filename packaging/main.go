// Command package builds Slipway's Debian package from a built binary:
//
//	go run . -binary ../bin/slipway -config slipway.toml -version 1.2.3 -arch amd64 -out ../dist
//
// It lives in its own module so that the packager's dependencies never
// become the server's.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
)

func main() {
	var o options
	flag.StringVar(&o.Binary, "binary", "", "the slipway binary to package (required)")
	flag.StringVar(&o.Config, "config", "", "the file installed as /etc/slipway/slipway.toml (required)")
	flag.StringVar(&o.Version, "version", "", "package version, such as 1.2.3 or v1.2.3 (required)")
	flag.StringVar(&o.Arch, "arch", "amd64", "Debian architecture of the binary")
	flag.StringVar(&o.Out, "out", ".", "directory the .deb is written to")
	flag.Parse()
	if flag.NArg() > 0 || o.Binary == "" || o.Config == "" || o.Version == "" {
		fmt.Fprintln(os.Stderr, "usage: package -binary FILE -config FILE -version VERSION [-arch ARCH] [-out DIR]")
		os.Exit(2)
	}
	path, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

type options struct {
	Binary, Config, Version, Arch, Out string
	// Source is the directory of nfpm.yaml and the files it names; "" is
	// the current directory.
	Source string
}

// build writes the package into o.Out and returns its path.
func build(o options) (string, error) {
	src, err := filepath.Abs(o.Source)
	if err != nil {
		return "", err
	}
	vars := map[string]string{
		"ARCH":    o.Arch,
		"VERSION": strings.TrimPrefix(o.Version, "v"),
		"SOURCE":  src,
	}
	for name, p := range map[string]string{"BINARY": o.Binary, "CONFIG": o.Config} {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", err
		}
		vars[name] = abs
	}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join(src, "nfpm.yaml"), func(name string) string { return vars[name] })
	if err != nil {
		return "", fmt.Errorf("read nfpm.yaml: %w", err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	for _, script := range []*string{&info.Scripts.PreInstall, &info.Scripts.PostInstall, &info.Scripts.PreRemove, &info.Scripts.PostRemove} {
		if *script != "" && !filepath.IsAbs(*script) {
			*script = filepath.Join(src, *script)
		}
	}
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	target := filepath.Join(o.Out, pkg.ConventionalFileName(info))
	f, err := os.Create(target)
	if err != nil {
		return "", err
	}
	info.Target = target
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(target)
		return "", fmt.Errorf("build %s: %w", target, err)
	}
	return target, f.Close()
}
