package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hbctl/hbctl/coordinator/api"
)

// serverReleasing is the part of a target server's GET /v1/stats that says
// whether a shake or send release is still running.
type serverReleasing struct {
	Shake bool `json:"shake"`
	Send  bool `json:"send"`
}

// releaseState is a server's last release of one kind: how many of how
// many, and whether it finished or was cut short (by a crash, a stop, a
// journal failure).
type releaseState struct {
	Total int    `json:"total"`
	Done  int    `json:"done"`
	State string `json:"state"` // running, done, interrupted
	Why   string `json:"why"`
}

// serverReleases is the last release of each kind.
type serverReleases struct {
	Shake *releaseState `json:"shake"`
	Send  *releaseState `json:"send"`
}

// releasing asks one server's admin API whether it is still releasing,
// and how its last releases ended.
func releasing(ctx context.Context, hc *http.Client, a api.Admin) (serverReleasing, serverReleases, error) {
	var out struct {
		Releasing serverReleasing `json:"releasing"`
		Releases  serverReleases  `json:"releases"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.URL, "/")+"/v1/stats", nil)
	if err != nil {
		return out.Releasing, out.Releases, fmt.Errorf("server stats: %w", err)
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	res, err := hc.Do(req)
	if err != nil {
		// Not wrapped: a server unreachable is no coordinator unreachable.
		return out.Releasing, out.Releases, fmt.Errorf("server stats: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return out.Releasing, out.Releases, fmt.Errorf("server stats %s: HTTP %d: %s", a.URL, res.StatusCode, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return out.Releasing, out.Releases, fmt.Errorf("server stats %s: %w", a.URL, err)
	}
	return out.Releasing, out.Releases, nil
}
