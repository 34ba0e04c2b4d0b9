package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/httpserve"
)

// VerifyFile is the last verification's response in the data dir; the
// HTML report (coordinator/report) reads its verdict, discrepancies and
// totals.
const VerifyFile = runrecord.VerifyFile

// VerifyInputFile is the ledgers of the last verification as reconciled,
// when VerifyRequest.SaveInput asks for them.
const VerifyInputFile = runrecord.VerifyInputFile

// Defaults of a verification.
const (
	DefaultVerifyGrace = 5 * time.Second
	// DefaultUploadWait is the wait for each upload: 34 agents of 14,700
	// users on 2 busy cores took more than 15 s for the first.
	DefaultUploadWait   = 60 * time.Second
	quietMargin         = 250 * time.Millisecond // after rate 0 takes effect, for agents' clock offsets
	pendingPollInterval = 100 * time.Millisecond
)

// Errors of Verify that say it did not start.
var (
	ErrNothingToVerify = errors.New("nothing to verify: run hbctl connect first")
	ErrVerifying       = errors.New("a verification is already running")
)

// handleVerify quiesces the run, collects every ledger and reconciles.
func (c *Coordinator) handleVerify(w http.ResponseWriter, r *http.Request) {
	var req api.VerifyRequest
	if !decode(w, r, &req) {
		return
	}
	// Quiescing, collecting and reconciling a large run takes minutes.
	httpserve.Extend(w, longRequest)
	if req.GraceMillis < 0 || req.UploadMillis < 0 {
		writeError(w, http.StatusBadRequest, "grace_ms, upload_ms: must not be negative")
		return
	}
	// A verification that started runs to its end (every wait in it is
	// bounded) even if the caller goes away, so the rate is restored and
	// verify.json written.
	resp, err := c.Verify(context.WithoutCancel(r.Context()), req)
	switch {
	case errors.Is(err, ErrNothingToVerify), errors.Is(err, ErrVerifying):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, resp)
	}
}

// quietGuard refuses what would start new load while a verification runs:
// connect, qps set, shake and send.
func (c *Coordinator) quietGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			switch r.URL.Path {
			case api.PathConnect, api.PathQPS, api.PathShake, api.PathSend:
				c.mu.Lock()
				busy := c.vs.active
				c.mu.Unlock()
				if busy {
					writeError(w, http.StatusConflict, "a verification is running: the load stays quiet until it ends")
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Verify quiesces the run (rate 0, no new releases), waits for in-flight
// requests up to the grace, collects the agents' ledgers through their
// long polls and the servers' through their admin APIs, reconciles them
// with checks.Verify, writes verify.json and restores the rate. The error
// is only for a verification that could not start; everything else is in
// the response (ExitCode 2 with Problems when a ledger was missing).
func (c *Coordinator) Verify(ctx context.Context, req api.VerifyRequest) (*api.VerifyResponse, error) {
	grace := time.Duration(req.GraceMillis) * time.Millisecond
	if req.GraceMillis == 0 {
		grace = DefaultVerifyGrace
	}
	upload := time.Duration(req.UploadMillis) * time.Millisecond
	if req.UploadMillis == 0 {
		upload = DefaultUploadWait
	}
	began := time.Now()
	now := c.cfg.Now()

	c.mu.Lock()
	if c.run == nil {
		c.mu.Unlock()
		return nil, ErrNothingToVerify
	}
	if c.vs.active {
		c.mu.Unlock()
		return nil, ErrVerifying
	}
	c.vs.active = true
	run := c.run
	servers, admins := slices.Clone(run.servers), slices.Clone(run.admins)
	resp := &api.VerifyResponse{Problems: []string{}}
	zeroAt := now
	if !run.disconnected {
		// The rate the run is set to: a plan that has not started yet (a
		// re-plan) carries it from its start.
		p := run.plan
		if run.queued != nil {
			p = run.queued
		}
		resp.Quiesce.PreviousRate = p.RateAt(max(now.UnixNano(), p.Segments[0].T))
		// Rate 0 on every plan the agents may run, even when it is 0
		// already: an earlier plan keeps firing until a new one starts, so
		// the load is quiet only from the latest start on.
		zeroAt = time.Unix(0, c.setRateLocked(0, ceilSecond(now.Add(MinLead))))
		for _, q := range []*schedule.Plan{run.plan, run.queued} {
			if q != nil && q.Segments[0].T > zeroAt.UnixNano() {
				zeroAt = time.Unix(0, q.Segments[0].T)
			}
		}
		c.eventLocked(now, api.Event{Kind: "qps", Q: 0, At: zeroAt.Unix(), PlanID: run.plan.ID, Detail: "verify: quiesce"})
	}
	resp.Quiesce.RateZeroAt = zeroAt.Unix()
	c.mu.Unlock()
	c.log.Info("verify: quiescing", "rate_zero_at", zeroAt.Unix(), "previous_rate", resp.Quiesce.PreviousRate)

	defer func() {
		c.mu.Lock()
		c.restoreLocked(run, req, resp)
		c.vs.active = false
		c.mu.Unlock()
	}()

	problem := func(format string, args ...any) {
		resp.Problems = append(resp.Problems, fmt.Sprintf(format, args...))
	}
	graceEnd := zeroAt.Add(grace)
	if !c.sleepUntil(ctx, zeroAt.Add(quietMargin)) {
		return nil, ctx.Err()
	}

	// Releases: refused from now on; wait for running ones within the grace.
	for i, a := range admins {
		if a.URL == "" || i >= len(servers) {
			continue
		}
		for {
			st, err := c.fetchStats(ctx, a)
			if err != nil {
				break // reported when the ledgers are fetched
			}
			if !st.Releasing.Shake && !st.Releasing.Send {
				break
			}
			if !c.cfg.Now().Before(graceEnd) {
				problem("server %s: a release is still running (shake %t, send %t): wait until it ends and verify again",
					servers[i], st.Releasing.Shake, st.Releasing.Send)
				break
			}
			if !c.sleepUntil(ctx, c.cfg.Now().Add(pendingPollInterval)) {
				return nil, ctx.Err()
			}
		}
	}

	// In-flight requests: poll the agents' pending counts within the grace.
	for {
		ups, missing := c.collectRound(ctx, false, upload)
		resp.Quiesce.Rounds++
		var pending uint64
		for _, up := range ups {
			pending += up.Pending
		}
		if len(missing) > 0 || pending == 0 || !c.cfg.Now().Before(graceEnd) {
			break
		}
		if !c.sleepUntil(ctx, c.cfg.Now().Add(pendingPollInterval)) {
			return nil, ctx.Err()
		}
	}
	ups, missing := c.collectRound(ctx, true, upload)
	resp.Quiesce.Rounds++
	resp.Quiesce.WaitedMillis = time.Since(began).Milliseconds()
	for _, name := range missing {
		problem("agent %s: did not upload its ledger within %s (dead or unreachable)", name, upload)
	}

	c.mu.Lock()
	hist := make([]epoch, len(c.history))
	for i, e := range c.history {
		hist[i] = epoch{start: e.start, plan: clonePlan(e.plan)}
	}
	held := map[string][]schedule.Range{}
	for _, a := range c.reg.byName {
		held[a.name] = slices.Clone(a.users)
	}
	c.mu.Unlock()

	in := &checks.Input{Servers: make([]checks.Server, len(servers))}
	names := make([]string, 0, len(ups))
	for name := range ups {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		up := ups[name]
		src := api.LedgerSource{Name: name, Records: len(up.Records), Users: len(up.Users), Error: up.Error}
		resp.Agents = append(resp.Agents, src)
		if up.Error != "" {
			problem("agent %s: %s", name, up.Error)
			continue
		}
		resp.Quiesce.PendingAtCut += up.Pending
		in.Agents = append(in.Agents, checks.Agent{Name: name, Records: up.Records, Users: up.Users,
			UnknownShakes: unknownShakes(held[name], servers, up, hist)})
	}

	sls, errs := c.fetchServers(ctx, admins)
	for i, name := range servers {
		s := &in.Servers[i]
		s.Name = name
		src := api.LedgerSource{Name: name}
		if i >= len(sls) || (sls[i] == nil && errs[i] == nil) {
			s.ClientOnly = true
			src.Error = "no admin API"
			resp.Servers = append(resp.Servers, src)
			continue
		}
		if errs[i] != nil {
			src.Error = errs[i].Error()
			resp.Servers = append(resp.Servers, src)
			problem("server %s: ledgers unreachable: %v", name, errs[i])
			continue
		}
		sl := sls[i]
		src.Records, src.Users = len(sl.records), len(sl.users)
		resp.Servers = append(resp.Servers, src)
		// A server restarted during the run resumed its counters from its
		// checkpoint and journal: what they missed in each crash window is
		// bounded by the plans' fires then (a clean restart missed nothing).
		s.UnknownCounts, s.CountersLost = serverUnknownCounts(i, servers, held, ups, hist, sl.stats.Restarts)
		if len(sl.stats.Restarts) > 0 {
			c.log.Info("verify: server restarted after a crash; its counters are bounded crash by crash",
				"server", name, "restarts", len(sl.stats.Restarts), "counters_lost", s.CountersLost)
		}
		st := sl.stats.Shake
		s.Records, s.Users, s.Stats = sl.records, sl.users, &st
	}

	if req.SaveInput {
		if err := c.writeFile(VerifyInputFile, in); err != nil {
			problem("%v", err)
		}
	}
	if len(resp.Problems) == 0 {
		rep, err := checks.Verify(in)
		if err != nil {
			problem("ledgers could not be reconciled: %v", err)
		} else {
			resp.Report = rep
		}
	}
	resp.ExitCode = exitCode(resp, req.AllowPartial)
	if resp.Report == nil {
		resp.Report = &checks.Report{Verdict: checks.VerdictIncomplete, Servers: []checks.ServerSummary{},
			Discrepancies: []checks.Discrepancy{}, DiscrepancyCounts: map[checks.Kind]uint64{}, Skipped: []checks.Skipped{}}
	}

	now = c.cfg.Now()
	c.mu.Lock()
	c.restoreLocked(run, req, resp)
	resp.DurationMillis = time.Since(began).Milliseconds()
	c.eventLocked(now, api.Event{Kind: "verify", Detail: verifyDetail(resp)})
	c.mu.Unlock()
	if err := c.writeFile(VerifyFile, resp); err != nil {
		c.log.Error("write verify.json", "err", err)
		resp.Problems = append(resp.Problems, err.Error())
	}
	c.log.Info("verify done", "verdict", resp.Report.Verdict, "exit", resp.ExitCode,
		"discrepancies", len(resp.Report.Discrepancies), "problems", len(resp.Problems), "ms", resp.DurationMillis)
	return resp, nil
}

// exitCode is what `hbctl verify ledger` ends with: 2 when a ledger was
// missing or a check could not run (unless only for servers without an
// admin API and partial results are allowed), else the verdict's.
func exitCode(resp *api.VerifyResponse, allowPartial bool) int {
	if len(resp.Problems) > 0 || resp.Report == nil {
		return 2
	}
	rep := resp.Report
	if rep.Verdict == checks.VerdictIncomplete && allowPartial {
		clientOnly := map[string]bool{}
		for _, s := range rep.Servers {
			clientOnly[s.Name] = s.ClientOnly
		}
		for _, sk := range rep.Skipped {
			if !clientOnly[sk.Server] {
				return 2
			}
		}
		return 0
	}
	return rep.Verdict.ExitCode()
}

func verifyDetail(resp *api.VerifyResponse) string {
	var n uint64
	for _, k := range resp.Report.DiscrepancyCounts {
		n += k
	}
	d := fmt.Sprintf("%s: %d discrepancies, exit %d, %d ms", resp.Report.Verdict, n, resp.ExitCode, resp.DurationMillis)
	if len(resp.Problems) > 0 {
		d += "; " + strings.Join(resp.Problems, "; ")
	}
	return d
}

// restoreLocked gives the run its rate back once, unless asked to stay
// quiet or the run changed meanwhile. mu must be held.
func (c *Coordinator) restoreLocked(run *run, req api.VerifyRequest, resp *api.VerifyResponse) {
	if req.StayQuiet || resp.Quiesce.Restored || resp.Quiesce.PreviousRate == 0 || c.run != run || run.disconnected {
		return
	}
	now := c.cfg.Now()
	at := c.setRateLocked(resp.Quiesce.PreviousRate, ceilSecond(now.Add(MinLead)))
	resp.Quiesce.Restored = true
	c.eventLocked(now, api.Event{Kind: "qps", Q: resp.Quiesce.PreviousRate, At: at / 1e9, PlanID: run.plan.ID, Detail: "verify: rate restored"})
}

// setRateLocked sets the running (and queued) plan's rate from atNs and
// publishes it; it returns when the change takes effect. mu must be held.
func (c *Coordinator) setRateLocked(q, atNs int64) int64 {
	eff, err := setRate(c.run.plan, q, atNs)
	if err == nil && c.run.queued != nil {
		_, err = setRate(c.run.queued, q, atNs)
	}
	if err != nil {
		c.log.Error("verify: set rate", "q", q, "err", err)
		return atNs
	}
	c.bumpLocked()
	return eff
}

// sleepUntil waits until t (by the coordinator's clock), false if ctx or
// the coordinator ends first.
func (c *Coordinator) sleepUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(c.cfg.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.stop:
		return false
	}
}

// writeFile leaves v as JSON in the data dir, replaced atomically so the
// HTML report never reads half of it.
func (c *Coordinator) writeFile(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	path := filepath.Join(c.cfg.DataDir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
