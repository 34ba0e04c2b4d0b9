package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
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

// shakeStats is the part of a server's GET /v1/stats read here.
type shakeStats struct {
	// ShakePerSecond is [unix_second, SHAKEs received] for the server's
	// last complete seconds, by arrival.
	ShakePerSecond [][2]int64 `json:"shake_per_second"`
	Connections    int64      `json:"connections"`
	Limits         struct {
		Open               int64 `json:"open"`
		MaxConnections     int   `json:"max_connections"`
		Refused            int64 `json:"refused"`
		EvictedBeforeLogin int64 `json:"evicted_before_login"`
		LoginTimeouts      int64 `json:"login_timeouts"`
		FrameTimeouts      int64 `json:"frame_timeouts"`
	} `json:"limits"`
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
}

func newServerRates(client *http.Client, log *slog.Logger) *serverRates {
	return &serverRates{
		client: client, log: log,
		interval: DefaultServerPoll, timeout: DefaultServerPollTimeout,
		series: map[string]*serverSeries{},
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
	var st shakeStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.URL, "/")+"/v1/stats", nil)
	if err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	res, err := r.client.Do(req)
	if err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	defer res.Body.Close()
	// A stats answer is a few kilobytes; the bound keeps a wrong URL from
	// feeding the coordinator an endless body.
	body := io.LimitReader(res.Body, 1<<20)
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return st, fmt.Errorf("server stats: %s: %s", res.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(body).Decode(&st); err != nil {
		return st, fmt.Errorf("server stats: decode: %w", err)
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
	}
}
