package coordinator

import (
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/admin"
)

// adminClient is the typed client of a target server's admin API, over
// the coordinator's HTTP client for admin APIs.
func (c *Coordinator) adminClient(a api.Admin) *admin.Client {
	return admin.New(a.URL, a.Token, c.cfg.AdminClient)
}
