//go:build linux

package local_test

import (
	"path/filepath"
	"testing"

	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/host/hosttest"
	"github.com/slipwayhq/slipway/release/transport/local"
)

func TestConformance(t *testing.T) {
	hosttest.Run(t, func(t testing.TB, dirName string) (host.Host, string) {
		dir := filepath.Join(t.TempDir(), dirName)
		h := local.New(dir, nil)
		t.Cleanup(func() { h.Close() })
		return h, dir
	})
}
