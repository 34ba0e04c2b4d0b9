package scenario

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
)

// Defaults of Config.
const (
	DefaultPollEvery      = time.Second
	DefaultPlainProgress  = 5 * time.Second
	DefaultReleaseTimeout = 30 * time.Second // beyond a release's own duration
	// DefaultSettle bounds the wait, after the last step, for the
	// coordinator to finalize the seconds the scenario ran in (a second is
	// final 2.5 s after it ends).
	DefaultSettle = 8 * time.Second
)

// Control is what the runner asks of the coordinator.
type Control interface {
	Connect(ctx context.Context, r api.ConnectRequest) (api.ConnectResponse, error)
	SetQPS(ctx context.Context, r api.QPSRequest) (api.QPSResponse, error)
	Shake(ctx context.Context, r api.ShakeRequest) (api.ForwardResponse, error)
	Send(ctx context.Context, r api.SendRequest) (api.ForwardResponse, error)
	Status(ctx context.Context) (api.Status, error)
	Disconnect(ctx context.Context) (api.DisconnectResponse, error)
}

var _ Control = (*client.Client)(nil)

// VerifyFunc reconciles the ledgers (through the coordinator) for a
// `verify: ledger` step. An error means the ledgers could not be verified.
type VerifyFunc func(ctx context.Context) (*VerifyResult, error)

// VerifyResult is what a verify step found.
type VerifyResult struct {
	Verdict       string // reconciled, discrepancies, incomplete
	Discrepancies int64
	// Summary is printed as is after the step (totals, discrepancies).
	Summary string
}

// Config is how a scenario runs.
type Config struct {
	Control Control
	// Verify runs a verify step; nil makes such a step fail.
	Verify VerifyFunc
	// Out receives the step log and the progress line; TTY redraws one
	// progress line every second instead of printing a line every
	// ProgressEvery.
	Out           io.Writer
	TTY           bool
	ProgressEvery time.Duration
	PollEvery     time.Duration
	// HTTP reads the target servers' admin stats (wait_until *_released).
	HTTP *http.Client
}

func (c *Config) setDefaults() {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.PollEvery <= 0 {
		c.PollEvery = DefaultPollEvery
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = DefaultPlainProgress
		if c.TTY {
			c.ProgressEvery = c.PollEvery
		}
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
}

// Result is a finished scenario.
type Result struct {
	Scenario *Scenario
	Started  time.Time
	Ended    time.Time
	Measures Measures
	Outcomes []Outcome
	Verify   *VerifyResult // the last verify step's, nil if none ran
}

// Exit codes of a finished scenario. Errors that keep it from running
// are the caller's to map (2, or 3 and 4 for the coordinator's token and
// reachability).
const (
	ExitPassed     = 0
	ExitFailed     = 1 // a threshold failed or verify found discrepancies
	ExitUnverified = 2 // nothing failed, but the ledgers could not be verified
)

// Passed says every threshold passed and every verify step reconciled.
func (r *Result) Passed() bool {
	return r.ExitCode() == ExitPassed
}

// ExitCode is the verdict as an exit status.
func (r *Result) ExitCode() int {
	unverified := r.Verify != nil && r.Verify.Verdict != "reconciled" && r.Verify.Verdict != "discrepancies"
	for _, o := range r.Outcomes {
		if !o.Passed && !(unverified && o.Metric == "ledger") {
			return ExitFailed
		}
	}
	switch {
	case r.Verify != nil && r.Verify.Verdict == "discrepancies":
		return ExitFailed
	case unverified:
		return ExitUnverified
	}
	return ExitPassed
}

// Failures names every failed threshold with its measured value, for the
// error message of a failed run.
func (r *Result) Failures() []string {
	var out []string
	for _, o := range r.Outcomes {
		if !o.Passed {
			out = append(out, fmt.Sprintf("%s (measured %s)", o.Expr, o.Measured))
		}
	}
	if r.Verify != nil && r.Verify.Verdict != "reconciled" {
		out = append(out, fmt.Sprintf("verify ledger: %s (%d discrepancies)", r.Verify.Verdict, r.Verify.Discrepancies))
	}
	return out
}

// runner is one run of a scenario.
type runner struct {
	cfg    Config
	sc     *Scenario
	admins []api.Admin
	start  time.Time

	// Releases started, for wait_until; touched by the step goroutine only.
	shakeEnd, sendEnd time.Time

	mu      sync.Mutex
	log     secondLog  // mu
	last    api.Status // mu: the newest status polled
	polled  bool       // mu: last is set
	step    string     // mu: the step running, for the progress line
	printed time.Time  // mu: when the last plain progress line was printed
	drawn   bool       // mu: a TTY progress line is on screen
}

// Run runs the scenario to its end and evaluates its thresholds. An error
// means it could not run (the scenario is invalid, the coordinator refused
// a step, a wait timed out, ctx was cancelled).
func Run(ctx context.Context, sc *Scenario, cfg Config) (*Result, error) {
	cfg.setDefaults()
	if cfg.Control == nil {
		return nil, fmt.Errorf("scenario: no coordinator client")
	}
	if err := sc.Check(); err != nil {
		return nil, err
	}
	admins, err := sc.AdminList()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, sc: sc, admins: admins, start: time.Now(), log: secondLog{}}
	res := &Result{Scenario: sc, Started: r.start}

	r.printf("connect %d users to %v\n", sc.Users, sc.Targets.Servers)
	cr, err := cfg.Control.Connect(ctx, api.ConnectRequest{
		Servers: sc.Targets.Servers, Admins: admins, Users: sc.Users, Rate: sc.ConnectRate,
	})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	r.printf("plan %d: %d users over %d agents\n", cr.PlanID, cr.Users, len(cr.Agents))

	pollCtx, stopPoll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.poll(pollCtx)
	}()
	defer func() {
		stopPoll()
		wg.Wait()
		r.endProgress()
	}()

	for i, st := range sc.Steps {
		r.setStep(fmt.Sprintf("%d/%d %s", i+1, len(sc.Steps), st))
		r.printf("step %d/%d (line %d): %s\n", i+1, len(sc.Steps), st.Line, st)
		v, err := r.do(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("step %d (line %d) %s: %w", i+1, st.Line, st, err)
		}
		if v != nil {
			res.Verify = v
		}
	}
	res.Ended = time.Now()
	r.setStep("settling")
	final, err := r.settle(ctx, res.Ended)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.log.add(&final)
	res.Measures = measure(&final, r.log, r.start.Unix(), res.Ended.Unix())
	r.mu.Unlock()
	if res.Verify != nil {
		res.Measures.Ledger = res.Verify.Verdict
	}
	for _, th := range sc.Thresholds {
		res.Outcomes = append(res.Outcomes, th.Evaluate(&res.Measures))
	}
	return res, nil
}

// do runs one step; a verify step returns its result.
func (r *runner) do(ctx context.Context, st Step) (*VerifyResult, error) {
	c := r.cfg.Control
	switch {
	case st.QPS != nil:
		q, err := c.SetQPS(ctx, api.QPSRequest{Q: *st.QPS})
		if err != nil {
			return nil, err
		}
		at := time.Unix(q.Effective, 0)
		r.printf("  qps %d from %s\n", *st.QPS, at.UTC().Format(time.RFC3339))
		// The step ends when the rate is in force, so that a wait after
		// it is time spent at that rate.
		if d := time.Until(at); q.Effective > 0 && d > 0 {
			return nil, sleep(ctx, d)
		}
	case st.Shake != nil:
		resp, err := c.Shake(ctx, api.ShakeRequest{Rate: st.Shake.Rate, Total: st.Shake.Total,
			MinAmount: st.Shake.MinAmount, MaxAmount: st.Shake.MaxAmount})
		if err != nil {
			return nil, forwardErr(resp, err)
		}
		r.shakeEnd = releaseEnd(resp)
	case st.Send != nil:
		resp, err := c.Send(ctx, api.SendRequest{Rate: st.Send.Rate, Total: st.Send.Total, Recipients: st.Send.Recipients,
			MinAmount: st.Send.MinAmount, MaxAmount: st.Send.MaxAmount})
		if err != nil {
			return nil, forwardErr(resp, err)
		}
		r.sendEnd = releaseEnd(resp)
	case st.Wait > 0:
		return nil, sleep(ctx, st.Wait)
	case st.WaitUntil == Connected:
		return nil, r.waitConnected(ctx, cmp(st.Timeout, r.sc.ConnectTimeout))
	case st.WaitUntil == ShakeReleased:
		return nil, r.waitReleased(ctx, "shake", r.shakeEnd, st.Timeout)
	case st.WaitUntil == SendReleased:
		return nil, r.waitReleased(ctx, "send", r.sendEnd, st.Timeout)
	case st.Verify != "":
		if r.cfg.Verify == nil {
			return nil, fmt.Errorf("this hbctl cannot verify ledgers")
		}
		v, err := r.cfg.Verify(ctx)
		if err != nil {
			return nil, err
		}
		if v.Summary != "" {
			r.printf("%s", v.Summary)
		}
		r.printf("  ledger: %s (%d discrepancies)\n", v.Verdict, v.Discrepancies)
		return v, nil
	case st.Disconnect:
		_, err := c.Disconnect(ctx)
		return nil, err
	}
	return nil, nil
}

func cmp(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// forwardErr names the servers that refused a release.
func forwardErr(resp api.ForwardResponse, err error) error {
	for _, s := range resp.Servers {
		if s.Error != "" {
			return fmt.Errorf("%s refused: %s: %w", s.Admin, s.Error, err)
		}
	}
	return err
}

// releaseEnd is when the slowest server finishes its share of a release.
func releaseEnd(resp api.ForwardResponse) time.Time {
	end := time.UnixMilli(resp.Started)
	for _, s := range resp.Servers {
		if s.Rate <= 0 {
			continue
		}
		d := time.Duration(float64(time.Second) * float64(s.Total) / float64(s.Rate))
		if e := time.UnixMilli(resp.Started).Add(d); e.After(end) {
			end = e
		}
	}
	return end
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// until polls cond every interval until it holds, ctx ends or deadline
// passes.
func until(ctx context.Context, deadline time.Time, interval time.Duration, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
}

func (r *runner) waitConnected(ctx context.Context, timeout time.Duration) error {
	var est int
	err := until(ctx, time.Now().Add(timeout), 250*time.Millisecond, func() (bool, error) {
		st, err := r.cfg.Control.Status(ctx)
		if err != nil {
			return false, err
		}
		est = st.Connections.Established
		return est >= r.sc.Users, nil
	})
	if err == context.DeadlineExceeded {
		return fmt.Errorf("only %d of %d users established after %s", est, r.sc.Users, timeout)
	}
	return err
}

// waitReleased waits out a release's own duration, then for every server
// to say it is no longer releasing.
func (r *runner) waitReleased(ctx context.Context, kind string, end time.Time, timeout time.Duration) error {
	if end.IsZero() {
		return fmt.Errorf("no %s step ran before", kind)
	}
	if d := time.Until(end); d > 0 {
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(cmp(timeout, DefaultReleaseTimeout))
	var busy string
	err := until(ctx, deadline, 200*time.Millisecond, func() (bool, error) {
		for _, a := range r.admins {
			rel, last, err := releasing(ctx, r.cfg.HTTP, a)
			if err != nil {
				return false, err
			}
			if (kind == "shake" && rel.Shake) || (kind == "send" && rel.Send) {
				busy = a.URL
				return false, nil
			}
			st := last.Shake
			if kind == "send" {
				st = last.Send
			}
			// The step's release is the server's last of its kind: cut
			// short, it did not release what the scenario asked.
			if st != nil && st.State == "interrupted" {
				return false, fmt.Errorf("%s: %s release interrupted: %d of %d released (%s)", a.URL, kind, st.Done, st.Total, st.Why)
			}
		}
		return true, nil
	})
	if err == context.DeadlineExceeded {
		return fmt.Errorf("%s still releasing %s after its schedule", busy, kind)
	}
	return err
}

// poll reads the coordinator's status every PollEvery, keeps its seconds
// and draws the progress line, until ctx ends.
func (r *runner) poll(ctx context.Context) {
	t := time.NewTicker(r.cfg.PollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := r.cfg.Control.Status(ctx)
		if err != nil {
			continue
		}
		r.mu.Lock()
		r.log.add(&st)
		r.last, r.polled = st, true
		r.mu.Unlock()
		r.progress()
	}
}

// settle waits until the coordinator finalized the seconds up to end and
// returns its status then.
func (r *runner) settle(ctx context.Context, end time.Time) (api.Status, error) {
	var st api.Status
	err := until(ctx, time.Now().Add(DefaultSettle), 250*time.Millisecond, func() (bool, error) {
		var err error
		st, err = r.cfg.Control.Status(ctx)
		if err != nil {
			return false, err
		}
		n := len(st.Seconds)
		return n > 0 && st.Seconds[n-1].T >= end.Unix()-1, nil
	})
	if err == context.DeadlineExceeded {
		// The last seconds are missing from the per-second figures, not
		// from the run's histograms: evaluate what there is.
		return st, nil
	}
	return st, err
}
