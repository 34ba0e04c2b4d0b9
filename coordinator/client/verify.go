package client

import (
	"context"
	"net/http"

	"github.com/hbctl/hbctl/coordinator/api"
)

// Verify asks the coordinator to quiesce the run, collect every ledger and
// reconcile them (POST /v1/verify). It may take the grace plus the agents'
// upload bound and the reconciliation: the call is bounded by ctx, not by
// the client's per-call timeout. The response's ExitCode is what `hbctl
// verify ledger` exits with; its Report is the checks report.
func (c *Client) Verify(ctx context.Context, r api.VerifyRequest) (*api.VerifyResponse, error) {
	long := *c
	var hc http.Client
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.Timeout = 0
	long.HTTP = &hc
	var out api.VerifyResponse
	if err := long.Do(ctx, http.MethodPost, api.PathVerify, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
