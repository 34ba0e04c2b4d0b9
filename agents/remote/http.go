package remote

import (
	"context"
	"strings"
	"time"

	"github.com/hbctl/hbctl/coordinator/client"
)

// ErrUnauthorized is returned when the coordinator refuses the token: the
// agent stops instead of retrying forever. It is the coordinator client's.
var ErrUnauthorized = client.ErrUnauthorized

// errUnknown: the coordinator does not know this agent (it restarted):
// register again.
var errUnknown = client.ErrNotFound

// call does one JSON request through the coordinator's client, with its
// own timeout. It returns the HTTP status; 204 leaves out untouched.
func (a *Agent) call(ctx context.Context, timeout time.Duration, method, path string, in, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := client.Client{URL: strings.TrimRight(a.cfg.Coordinator, "/"), Token: a.cfg.Token, HTTP: a.cfg.HTTP}
	return c.Call(ctx, method, path, in, out)
}
