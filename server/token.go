package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TokenName is the admin token file's name inside the data dir.
const TokenName = "admin-token"

// adminToken returns the configured token, or the one stored in the data
// dir, creating it (mode 0600) on first start.
func adminToken(given, dir string) (token, file string, err error) {
	if given != "" {
		return given, "", nil
	}
	file = filepath.Join(dir, TokenName)
	b, err := os.ReadFile(file)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, file, nil
		}
		return "", "", fmt.Errorf("server: token file %s is empty; delete it to get a new token", file)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("server: read token file: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("server: generate token: %w", err)
	}
	token = hex.EncodeToString(raw[:])
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("server: write token file: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", "", fmt.Errorf("server: write token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("server: write token file: %w", err)
	}
	return token, file, nil
}
