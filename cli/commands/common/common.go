// Package common holds what hbctl's control commands share: the flags that
// find and authenticate to the coordinator (--coordinator, --token,
// --coordinator-data-dir), the client built from them, and the mapping of
// errors to exit codes, and the output both shake and send print. It
// imports only coordinator/client and coordinator/api; command packages
// import it, never each other.
package common

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/coordinator/client"
)

// Exit codes every control command uses, so scripts can tell failures
// apart.
const (
	ExitFailure     = 1 // the operation failed or did not finish in time
	ExitUsage       = 2 // bad flags or arguments
	ExitAuth        = 3 // no token, or the coordinator refused it
	ExitUnreachable = 4 // the coordinator could not be reached
)

// DefaultCoordinatorDataDir is where `hbctl coordinator` keeps its token
// and timeline unless --data-dir says otherwise.
const DefaultCoordinatorDataDir = ".hbctl/coordinator"

// Flag names.
const (
	FlagCoordinator = "coordinator"
	FlagToken       = "token"
	FlagDataDir     = "coordinator-data-dir"
)

// Flags are the coordinator flags of every control command.
func Flags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: FlagCoordinator, Value: client.DefaultURL, EnvVars: []string{"HBCTL_COORDINATOR"},
			Usage: "coordinator `URL`"},
		&ucli.StringFlag{Name: FlagToken, EnvVars: []string{"HBCTL_TOKEN"},
			Usage: "bearer `TOKEN` of the coordinator (default: read from --coordinator-data-dir/token when the coordinator is local)"},
		&ucli.StringFlag{Name: FlagDataDir, Value: DefaultCoordinatorDataDir, EnvVars: []string{"HBCTL_COORDINATOR_DATA_DIR"},
			Usage: "data `DIR` of a local coordinator, to read its token from"},
	}
}

// ErrNoToken is returned when no token was given or found.
var ErrNoToken = errors.New("no coordinator token")

// Token resolves the token: --token, else the token file of a local
// coordinator's data dir.
func Token(c *ucli.Context) (string, error) {
	if t := c.String(FlagToken); t != "" {
		return t, nil
	}
	u := c.String(FlagCoordinator)
	path := filepath.Join(c.String(FlagDataDir), "token")
	if !isLocal(u) {
		return "", fmt.Errorf("%w: the coordinator %s is not local; pass --token or set HBCTL_TOKEN", ErrNoToken, u)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: pass --token or set HBCTL_TOKEN (no token file at %s: %v)", ErrNoToken, path, errors.Unwrap(err))
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%w: token file %s is empty", ErrNoToken, path)
	}
	return t, nil
}

// isLocal says whether the coordinator URL points at this host.
func isLocal(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || h == "" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Client is the coordinator client the flags describe.
func Client(c *ucli.Context) (*client.Client, error) {
	tok, err := Token(c)
	if err != nil {
		return nil, Exit(err)
	}
	return client.New(c.String(FlagCoordinator), tok), nil
}

// Exit maps err to a cli exit error with the exit code its kind deserves.
func Exit(err error) error {
	if err == nil {
		return nil
	}
	var ec ucli.ExitCoder
	if errors.As(err, &ec) {
		return err
	}
	var ae *client.APIError
	switch {
	case errors.Is(err, ErrNoToken), errors.Is(err, client.ErrUnauthorized):
		return ucli.Exit(err.Error(), ExitAuth)
	case errors.As(err, &ae):
		return ucli.Exit(err.Error(), ExitFailure)
	case errors.Is(err, context.DeadlineExceeded):
		return ucli.Exit(err.Error(), ExitFailure)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return ucli.Exit(err.Error(), ExitUnreachable)
	}
	return ucli.Exit(err.Error(), ExitFailure)
}

// Usage is a usage error (exit 2).
func Usage(format string, a ...any) error {
	return ucli.Exit(fmt.Sprintf(format, a...), ExitUsage)
}
