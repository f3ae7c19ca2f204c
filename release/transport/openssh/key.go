package openssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipwayhq/slipway/internal/durable"
	gossh "golang.org/x/crypto/ssh"
)

// ClientKey returns the path of Slipway's own SSH key in dataDir and its
// authorized_keys line, creating the key (0600) on first use.
func ClientKey(dataDir string) (path, authorized string, err error) {
	path = filepath.Join(dataDir, "id_ed25519")
	_, err = os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return "", "", gerr
		}
		block, merr := gossh.MarshalPrivateKey(priv, "slipway")
		if merr != nil {
			return "", "", merr
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return "", "", err
		}
		if err := durable.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return "", "", fmt.Errorf("write SSH key: %w", err)
		}
	} else if err != nil {
		return "", "", fmt.Errorf("read SSH key: %w", err)
	}
	authorized, err = AuthorizedKey(path)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(path+".pub", []byte(authorized+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return path, authorized, nil
}

// AuthorizedKey returns the authorized_keys line of the private key at path.
func AuthorizedKey(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read SSH key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return "", fmt.Errorf("SSH key %s: %w", path, err)
	}
	host, _ := os.Hostname()
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " slipway@" + host, nil
}
