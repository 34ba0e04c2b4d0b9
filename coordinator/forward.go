package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/admin"
)

func (c *Coordinator) handleShake(w http.ResponseWriter, r *http.Request) {
	var req api.ShakeRequest
	if !decode(w, r, &req) {
		return
	}
	if msg := checkRelease(req.Rate, req.Total, req.MinAmount, req.MaxAmount); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	c.forward(w, "shake", req.Rate, req.Total, func(cl *admin.Client, rate, total int) error {
		return cl.Shake(context.Background(), admin.ShakeRequest{Rate: rate, Total: total, MinAmount: req.MinAmount, MaxAmount: req.MaxAmount})
	})
}

func (c *Coordinator) handleSend(w http.ResponseWriter, r *http.Request) {
	var req api.SendRequest
	if !decode(w, r, &req) {
		return
	}
	if msg := checkRelease(req.Rate, req.Total, req.MinAmount, req.MaxAmount); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if req.Recipients < 0 || req.Recipients > 3 {
		writeError(w, http.StatusBadRequest, "recipients: must be 1..3")
		return
	}
	c.forward(w, "send", req.Rate, req.Total, func(cl *admin.Client, rate, total int) error {
		return cl.Send(context.Background(), admin.SendRequest{Rate: rate, Total: total, Recipients: req.Recipients, MinAmount: req.MinAmount, MaxAmount: req.MaxAmount})
	})
}

// checkRelease checks what every release shares; it returns what is
// wrong, naming the field, or "".
func checkRelease(rate, total, lo, hi int) string {
	switch {
	case rate <= 0 || rate > api.MaxRelease:
		return fmt.Sprintf("rate: %d not in 1..%d", rate, api.MaxRelease)
	case total <= 0 || total > api.MaxRelease:
		return fmt.Sprintf("total: %d not in 1..%d", total, api.MaxRelease)
	case lo < 0 || lo > api.MaxRelease:
		return fmt.Sprintf("min_amount: %d not in 0..%d", lo, api.MaxRelease)
	case hi < 0 || hi > api.MaxRelease || (hi > 0 && hi < lo):
		return fmt.Sprintf("max_amount: %d: need 0 <= min_amount <= max_amount <= %d", hi, api.MaxRelease)
	}
	return ""
}

// forward splits rate and total exactly over the target servers' admin
// APIs and makes call(client, rate, total) on each. The calls are bounded
// by the admin HTTP client's timeout, not by the request: a control
// command that goes away must not leave the servers half asked.
func (c *Coordinator) forward(w http.ResponseWriter, what string, rate, total int, call func(cl *admin.Client, rate, total int) error) {
	now := c.cfg.Now()
	c.mu.Lock()
	var admins []api.Admin
	if c.run != nil {
		// Servers without an admin API (an empty URL) get no share.
		admins = slices.DeleteFunc(slices.Clone(c.run.admins), func(a api.Admin) bool { return a.URL == "" })
	}
	c.mu.Unlock()
	if len(admins) == 0 {
		writeError(w, http.StatusConflict, "no target server admin API known: run hbctl connect with --admin")
		return
	}
	rates, totals := splitExact(rate, len(admins)), splitExact(total, len(admins))
	resp := api.ForwardResponse{Started: now.UnixMilli(), Servers: make([]api.ForwardResult, len(admins))}
	var wg sync.WaitGroup
	for i, a := range admins {
		// A server with no share of a small total gets no request.
		resp.Servers[i] = api.ForwardResult{Admin: a.URL, Rate: max(rates[i], 1), Total: totals[i]}
		if totals[i] == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fr := &resp.Servers[i]
			fr.Status, fr.Error = answer(call(c.adminClient(a), fr.Rate, fr.Total))
		}()
	}
	wg.Wait()
	failed, refused := 0, 0
	var errs []string
	for _, s := range resp.Servers {
		if s.Error != "" {
			failed++
			errs = append(errs, s.Admin+": "+s.Error)
			if s.Status == http.StatusBadRequest {
				refused++
			}
		}
	}
	resp.Error = strings.Join(errs, "; ")
	c.mu.Lock()
	c.eventLocked(now, api.Event{Kind: what, Detail: fmt.Sprintf("rate %d/s, total %d over %d servers, %d failed", rate, total, len(admins), failed)})
	c.mu.Unlock()
	code := http.StatusOK
	switch {
	case refused > 0 && refused == failed:
		// The servers refused the values: the caller's input, not a fault.
		code = http.StatusBadRequest
	case failed > 0:
		code = http.StatusBadGateway
	}
	writeJSON(w, code, resp)
}

// answer is the HTTP status and error text a server's answer gives.
func answer(err error) (int, string) {
	var ae *admin.Error
	switch {
	case err == nil:
		return http.StatusAccepted, ""
	case errors.As(err, &ae):
		return ae.Status, err.Error()
	}
	return 0, err.Error()
}
