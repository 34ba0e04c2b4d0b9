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

// releasing asks one server's admin API whether it is still releasing.
func releasing(ctx context.Context, hc *http.Client, a api.Admin) (serverReleasing, error) {
	st, err := admin.New(a.URL, a.Token, hc).Stats(ctx)
	if err != nil {
		// Not wrapped: a server unreachable is no coordinator unreachable.
		return st.Releasing, fmt.Errorf("server stats: %v", err)
	}
	return st.Releasing, nil
}
