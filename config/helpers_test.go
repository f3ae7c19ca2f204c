package config

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// testKey returns a deterministic ed25519 public key and its
// authorized_keys line; different seeds give different keys.
func testKey(tb testing.TB, seed byte) (gossh.PublicKey, string) {
	tb.Helper()
	pk, err := gossh.NewPublicKey(testPrivateKey(seed).Public())
	if err != nil {
		tb.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk)))
	return pk, line + " test-" + string('a'+seed%26)
}

// testPrivateKey returns the deterministic ed25519 key behind testKey.
func testPrivateKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// withKeys replaces KEY1, KEY2 and KEY3 in src by authorized_keys lines of
// testKey(1), testKey(2) and testKey(3).
func withKeys(tb testing.TB, src string) string {
	tb.Helper()
	for i := byte(1); i <= 3; i++ {
		_, line := testKey(tb, i)
		src = strings.ReplaceAll(src, "KEY"+string('0'+i), line)
	}
	return src
}

// markedLine returns the 1-based number of the line of src holding the
// marker "# <-", or 0 when there is none.
func markedLine(src string) int {
	for i, line := range strings.Split(src, "\n") {
		if strings.Contains(line, "# <-") {
			return i + 1
		}
	}
	return 0
}
