package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/admin"
)

// Defaults of the server rate poller.
const (
	// DefaultServerPoll is how often each target server's GET /v1/stats is
	// read while a plan is active. The servers keep their last 120 complete
	// seconds, so a missed poll or two loses nothing.
	DefaultServerPoll = 2 * time.Second
	// DefaultServerPollTimeout bounds one poll of one server.
	DefaultServerPollTimeout = 1500 * time.Millisecond
	// DefaultServerWait is how much longer than Settle a timeline second
	// waits for the servers' counts of it before it is written without them.
	DefaultServerWait = 5 * time.Second
	// serverErrLogEvery spaces the log lines of one failing server.
	serverErrLogEvery = time.Minute
	// serverSecondsKept bounds each server's kept seconds: more than the
	// servers report, and more than the timeline ever waits.
	serverSecondsKept = 300
)

// shakeStats is a server's GET /v1/stats; ShakePerSecond is read here.
type shakeStats = admin.Stats

// serverRelease is a server's release as the coordinator reports it.
func serverRelease(url string, r *admin.ReleaseState) api.ServerRelease {
	return api.ServerRelease{Admin: url, Kind: r.Kind, Total: r.Total, Done: r.Done, Rate: r.Rate,
		StartedMillis: r.StartedMillis, State: r.State, Why: r.Why}
}

// serverRates polls the target servers' admin APIs for their per-second
// SHAKE arrivals and keeps them until the timeline writes those seconds.
// Polls run on their own goroutine; the timeline only reads what has
// arrived, under mu, so a slow server never holds the timeline up for
// longer than its wait.
type serverRates struct {
	client   *http.Client
	log      *slog.Logger
	interval time.Duration
	timeout  time.Duration

	mu sync.Mutex
	// targets are the admin URLs of the servers of the run, in connect
	// order; nil while no plan with an admin API is active.
	targets []string                 // mu
	series  map[string]*serverSeries // mu: by admin URL
	errs    int64                    // mu: failed polls, all servers
	// reported holds the interrupted releases already put on the
	// timeline, by admin URL, kind and start; fresh are those not yet.
	reported map[string]bool     // mu
	fresh    []api.ServerRelease // mu
}

// serverSeries is what one server reported.
type serverSeries struct {
	counts map[int64]int64 // Unix second -> SHAKEs received
	// ok is whether the last poll answered; the timeline waits only for
	// servers that answer, so a dead admin API delays no second.
	ok      bool
	polled  bool // a poll has finished, answered or not
	errs    int64
	lastLog time.Time
	quiet   int64          // failures not logged since lastLog
	info    api.ServerInfo // the connection counters of the last answer, and the last error
	// releases is the last release of each kind, as last polled.
	releases []api.ServerRelease
}

func newServerRates(client *http.Client, log *slog.Logger) *serverRates {
	return &serverRates{
		client: client, log: log,
		interval: DefaultServerPoll, timeout: DefaultServerPollTimeout,
		series: map[string]*serverSeries{}, reported: map[string]bool{},
	}
}

// poll reads every admin's GET /v1/stats at once, each bounded by the
// poll timeout, and merges the answers. admins become the targets.
func (r *serverRates) poll(ctx context.Context, admins []api.Admin, now time.Time) {
	admins = slices.DeleteFunc(slices.Clone(admins), func(a api.Admin) bool { return a.URL == "" })
	r.setTargets(admins)
	var wg sync.WaitGroup
	for _, a := range admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, r.timeout)
			defer cancel()
			st, err := r.fetch(ctx, a)
			r.merge(a.URL, st, err, now)
		}()
	}
	wg.Wait()
}

// setTargets makes admins the servers whose seconds are awaited; none
// (nil) ends the waiting and drops what was kept.
func (r *serverRates) setTargets(admins []api.Admin) {
	urls := make([]string, 0, len(admins))
	for _, a := range admins {
		urls = append(urls, a.URL)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(urls, r.targets) {
		return
	}
	if len(urls) == 0 {
		urls = nil
	}
	r.targets = urls
	for u := range r.series {
		if !slices.Contains(urls, u) {
			delete(r.series, u)
		}
	}
}

func (r *serverRates) fetch(ctx context.Context, a api.Admin) (shakeStats, error) {
	st, err := admin.New(a.URL, a.Token, r.client).Stats(ctx)
	if err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	return st, nil
}

// merge records one poll's outcome for the server at url.
func (r *serverRates) merge(url string, st shakeStats, err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.targets, url) {
		return // the run changed while the poll was out
	}
	s := r.series[url]
	if s == nil {
		s = &serverSeries{counts: map[int64]int64{}}
		r.series[url] = s
	}
	s.polled = true
	s.info.Admin = url
	if err != nil {
		s.info.Error = err.Error()
		s.ok = false
		s.errs++
		r.errs++
		if now.Sub(s.lastLog) >= serverErrLogEvery {
			r.log.Warn("server stats poll failed", "admin", url, "err", err, "failures", s.errs, "not_logged", s.quiet)
			s.lastLog, s.quiet = now, 0
		} else {
			s.quiet++
		}
		return
	}
	s.ok = true
	l := st.Limits
	s.info = api.ServerInfo{Admin: url, Polled: true, Connections: st.Connections, Open: l.Open,
		MaxConnections: l.MaxConnections, Refused: l.Refused, EvictedBeforeLogin: l.EvictedBeforeLogin,
		LoginTimeouts: l.LoginTimeouts, FrameTimeouts: l.FrameTimeouts}
	s.releases = s.releases[:0]
	for _, rel := range []*admin.ReleaseState{st.Releases.Shake, st.Releases.Send} {
		if rel != nil {
			s.releases = append(s.releases, serverRelease(url, rel))
		}
	}
	for i := range st.Interrupted {
		rel := &st.Interrupted[i]
		key := fmt.Sprintf("%s %s %d", url, rel.Kind, rel.StartedMillis)
		if !r.reported[key] {
			r.reported[key] = true
			r.fresh = append(r.fresh, serverRelease(url, rel))
		}
	}
	newest := int64(0)
	for _, p := range st.ShakePerSecond {
		s.counts[p[0]] = p[1]
		newest = max(newest, p[0])
	}
	for sec := range s.counts {
		if sec <= newest-serverSecondsKept {
			delete(s.counts, sec)
		}
	}
}

// pending reports whether second sec still waits for a server: one that
// answers polls (or has not been polled yet) has not reported it.
func (r *serverRates) pending(sec int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.targets {
		s := r.series[u]
		if s == nil || !s.polled {
			return true
		}
		if _, have := s.counts[sec]; s.ok && !have {
			return true
		}
	}
	return false
}

// at sums second sec over the target servers that reported it and counts
// those that did not; ok is false when there are no targets or none
// reported it.
func (r *serverRates) at(sec int64) (sum int64, missing int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.targets {
		s := r.series[u]
		if s == nil {
			missing++
			continue
		}
		n, have := s.counts[sec]
		if !have {
			missing++
			continue
		}
		sum += n
		ok = true
	}
	return sum, missing, ok
}

// servers is the targets' last connection counters, in connect order.
func (r *serverRates) servers() []api.ServerInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []api.ServerInfo
	for _, u := range r.targets {
		info := api.ServerInfo{Admin: u}
		if s := r.series[u]; s != nil {
			info = s.info
			info.Admin = u
		}
		out = append(out, info)
	}
	return out
}

// releases is every target server's last releases, as last polled.
func (r *serverRates) releases() []api.ServerRelease {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []api.ServerRelease
	for _, u := range r.targets {
		if s := r.series[u]; s != nil {
			out = append(out, s.releases...)
		}
	}
	return out
}

// takeInterrupted hands out the interrupted releases not handed out yet.
func (r *serverRates) takeInterrupted() []api.ServerRelease {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.fresh
	r.fresh = nil
	return out
}

// failures is the count of failed polls since the coordinator started.
func (r *serverRates) failures() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

// pollServers polls the servers' stats every interval while a plan with
// an admin API is active, and for a while after a disconnect, so the
// seconds before it get their counts too.
func (c *Coordinator) pollServers() {
	defer c.wg.Done()
	t := time.NewTicker(c.srv.interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	var endedAt time.Time // when the run was first seen disconnected
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := c.cfg.Now()
		c.mu.Lock()
		var admins []api.Admin
		disconnected := false
		if c.run != nil {
			admins = slices.Clone(c.run.admins)
			disconnected = c.run.disconnected
		}
		c.mu.Unlock()
		switch {
		case !disconnected:
			endedAt = time.Time{}
		case endedAt.IsZero():
			endedAt = now
		case now.Sub(endedAt) > c.cfg.Settle+DefaultServerWait+2*c.srv.interval:
			admins = nil
		}
		if len(admins) == 0 {
			c.srv.setTargets(nil)
			continue
		}
		c.srv.poll(ctx, admins, now)
		if fresh := c.srv.takeInterrupted(); len(fresh) > 0 {
			c.mu.Lock()
			for _, rel := range fresh {
				c.log.Error("a server reports a release interrupted", "admin", rel.Admin, "kind", rel.Kind,
					"done", rel.Done, "total", rel.Total, "why", rel.Why)
				c.eventLocked(now, api.Event{Kind: "release_interrupted",
					Detail: fmt.Sprintf("%s: %s release interrupted, %d of %d released (%s)", rel.Admin, rel.Kind, rel.Done, rel.Total, rel.Why)})
			}
			c.mu.Unlock()
		}
	}
}
