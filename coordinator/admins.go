package coordinator

import (
	"context"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/admin"
)

// adminClient is the typed client of a target server's admin API, over
// the coordinator's HTTP client for admin APIs.
func (c *Coordinator) adminClient(a api.Admin) *admin.Client {
	return admin.New(a.URL, a.Token, c.cfg.AdminClient)
}

// ledgerFetchTimeout bounds the download of one server's ledgers. The
// admin client's own timeout (10 s) suits requests, not a journal of
// hundreds of thousands of records read while the box is still busy: 30
// servers of 16,667 users each missed it at once after a 500,000-user run.
const ledgerFetchTimeout = 5 * time.Minute

// ledgerClient is adminClient for ledger downloads: no whole-request
// timeout, the context bounds it instead.
func (c *Coordinator) ledgerClient(ctx context.Context, a api.Admin) (*admin.Client, context.Context, context.CancelFunc) {
	hc := *c.cfg.AdminClient
	hc.Timeout = 0
	ctx, cancel := context.WithTimeout(ctx, max(ledgerFetchTimeout, c.cfg.AdminClient.Timeout))
	return admin.New(a.URL, a.Token, &hc), ctx, cancel
}
