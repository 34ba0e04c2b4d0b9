package scenario

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/admin"
)

// serverReleasing says whether a shake or send release is still running.
type serverReleasing = admin.Releasing

// serverReleases is the last release of each kind.
type serverReleases = admin.Releases

// releasing asks one server's admin API whether it is still releasing,
// and how its last releases ended.
func releasing(ctx context.Context, hc *http.Client, a api.Admin) (serverReleasing, serverReleases, error) {
	st, err := admin.New(a.URL, a.Token, hc).Stats(ctx)
	if err != nil {
		// Not wrapped: a server unreachable is no coordinator unreachable.
		return st.Releasing, st.Releases, fmt.Errorf("server stats: %v", err)
	}
	return st.Releasing, st.Releases, nil
}
