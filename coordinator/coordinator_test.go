package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/testwait"
	"github.com/hbctl/hbctl/telemetry"
)

func TestAuthRequiredAndNothingChanges(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 100)
	calls := []struct {
		method, path string
		body         any
	}{
		{"POST", api.PathRegister, api.RegisterRequest{Name: "x", Capacity: 1}},
		{"POST", "/v1/agents/h01/heartbeat", api.Heartbeat{}},
		{"GET", "/v1/agents/h01/assignment", nil},
		{"POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10}},
		{"POST", api.PathQPS, api.QPSRequest{Q: 10}},
		{"GET", api.PathQPS, nil},
		{"POST", api.PathShake, api.ShakeRequest{Rate: 1, Total: 1}},
		{"POST", api.PathSend, api.SendRequest{Rate: 1, Total: 1}},
		{"GET", api.PathStatus, nil},
		{"POST", api.PathDisconnect, nil},
	}
	for _, tok := range []string{"", "wrong"} {
		for _, c := range calls {
			var e api.Error
			if code := h.do(tok, c.method, c.path, c.body, &e); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: HTTP %d, want 401", c.method, c.path, tok, code)
			}
			if e.Error == "" {
				t.Errorf("%s %s: 401 without a message", c.method, c.path)
			}
		}
	}
	st := h.status()
	if len(st.Agents) != 1 || st.Plan.Active {
		t.Fatalf("refused calls changed the state: %+v", st)
	}
	if code := h.do("", "GET", api.PathHealth, nil, nil); code != 200 {
		t.Fatalf("healthz without token: HTTP %d", code)
	}
}

func TestConnectSplitsAndRefusesShortfall(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 1000)
	h.register("h02", 1000)
	var e api.Error
	code := h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 2500}, &e)
	if code != http.StatusConflict || e.Shortfall != 500 || !strings.Contains(e.Error, "500 users short") {
		t.Fatalf("connect beyond capacity: HTTP %d %+v", code, e)
	}
	if st := h.status(); st.Plan.Active {
		t.Fatal("a refused connect started a plan")
	}
	var resp api.ConnectResponse
	if code := h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 1500, Rate: 300}, &resp); code != 200 {
		t.Fatalf("connect: HTTP %d", code)
	}
	if len(resp.Agents) != 2 || resp.Agents[0].Count != 750 || resp.Agents[1].Count != 750 {
		t.Fatalf("split %+v", resp.Agents)
	}
	as, code := h.assignment("h02", 0)
	if code != 200 || len(as.Users) != 1 || as.Users[0] != (schedule.Range{Lo: 750, Hi: 1500}) || as.Plan == nil || as.ConnectRate != 150 {
		t.Fatalf("assignment h02: HTTP %d %+v", code, as)
	}
	if as.Plan.RateAt(as.Plan.Segments[0].T) != 0 {
		t.Fatalf("plan starts at rate %d, want 0 until qps set", as.Plan.RateAt(as.Plan.Segments[0].T))
	}
	// Nothing new: the long poll ends empty.
	if _, code := h.assignment("h02", as.Version); code != http.StatusNoContent {
		t.Fatalf("long poll without change: HTTP %d, want 204", code)
	}
}

func TestQPSSetOnWholeSecond(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 1000)
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 1000}, nil)
	now := h.clk.Now()
	var q api.QPSResponse
	if code := h.do(testToken, "POST", api.PathQPS, api.QPSRequest{Q: 1500, DelayMillis: 2000}, &q); code != 200 {
		t.Fatalf("qps set: HTTP %d", code)
	}
	want := now.Add(2*time.Second).Truncate(time.Second).Unix() + 1 // 250 ms past a second: round up
	if q.Effective != want {
		t.Fatalf("effective %d, want %d", q.Effective, want)
	}
	as, _ := h.assignment("h01", 0)
	if got := as.Plan.FiresIn(want); got != 1500 {
		t.Fatalf("plan fires %d in the new second, want 1500", got)
	}
	if got := as.Plan.FiresIn(want - 1); got != 0 {
		t.Fatalf("plan fires %d in the second before, want 0", got)
	}
	// Set again before it took effect: the later call replaces it.
	h.do(testToken, "POST", api.PathQPS, api.QPSRequest{Q: 3000, DelayMillis: 2000}, &q)
	as, _ = h.assignment("h01", as.Version)
	if got := as.Plan.FiresIn(want); got != 3000 {
		t.Fatalf("after a second set: %d fires, want 3000", got)
	}
	var g api.QPSResponse
	h.do(testToken, "GET", api.PathQPS, nil, &g)
	if len(g.Segments) != 2 || g.Segments[1].Q != 3000 || g.Current != 0 {
		t.Fatalf("qps get: %+v", g)
	}
}

func TestDeadAgentReplanAndBack(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"h01", "h02", "h03"} {
		h.register(n, 1000)
	}
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 3000}, nil)
	h.do(testToken, "POST", api.PathQPS, api.QPSRequest{Q: 3000}, nil)
	as0, _ := h.assignment("h01", 0)

	// h01 and h03 keep beating, h02 falls silent.
	for i := 0; i < 14; i++ {
		h.clk.Add(250 * time.Millisecond)
		h.heartbeat("h01", api.Heartbeat{})
		h.heartbeat("h03", api.Heartbeat{})
		h.c.tick()
	}
	st := h.status()
	if st.Agents[1].Name != "h02" || st.Agents[1].Alive || !st.Agents[0].Alive {
		t.Fatalf("agents after 3.5 s of silence: %+v", st.Agents)
	}
	as, code := h.assignment("h01", as0.Version)
	if code != 200 || as.Plan.ID != as0.Plan.ID+1 {
		t.Fatalf("no re-plan: HTTP %d plan %+v", code, as.Plan)
	}
	if as.Plan.U() != 2000 || !inPlan(as.Plan, 2500) || inPlan(as.Plan, 1500) {
		t.Fatalf("re-plan users %v, want h01's and h03's", as.Plan.Users)
	}
	start := as.Plan.Segments[0].T
	if start%int64(time.Second) != 0 || start < h.clk.Now().UnixNano() {
		t.Fatalf("re-plan starts at %d, not a whole second ahead of %d", start, h.clk.Now().UnixNano())
	}
	if q := as.Plan.FiresIn(start / 1e9); q != 3000 {
		t.Fatalf("re-plan rate %d, want the same 3000", q)
	}
	if !hasEvent(st, "agent_dead", "h02") || !hasEvent(st, "replan", "") {
		t.Fatalf("events %+v", st.Events)
	}

	// h02 comes back under its name before plan 2 started: it gets its
	// users at once, but the plan over all users waits for plan 2 to start
	// (published earlier, it would replace plan 2 before it ever ran).
	h.register("h02", 1000)
	as2, _ := h.assignment("h02", 0)
	if len(as2.Users) != 1 || as2.Users[0] != (schedule.Range{Lo: 1000, Hi: 2000}) || as2.Plan.ID != as.Plan.ID {
		t.Fatalf("agent back: users %v plan %d, want its users and plan %d still", as2.Users, as2.Plan.ID, as.Plan.ID)
	}
	h.clk.t = time.Unix(0, start)
	h.heartbeat("h01", api.Heartbeat{})
	h.heartbeat("h02", api.Heartbeat{})
	h.heartbeat("h03", api.Heartbeat{})
	h.c.tick()
	as2, _ = h.assignment("h02", as2.Version)
	if as2.Plan.U() != 3000 || as2.Plan.ID != as.Plan.ID+1 || as2.Plan.Segments[0].T != start+int64(time.Second) {
		t.Fatalf("after plan 2 started: plan %d over %d from %d, want plan %d over 3000 from %d",
			as2.Plan.ID, as2.Plan.U(), as2.Plan.Segments[0].T, as.Plan.ID+1, start+int64(time.Second))
	}
	if q := as2.Plan.FiresIn(start/1e9 + 1); q != 3000 {
		t.Fatalf("plan 3 rate %d, want 3000", q)
	}
	if st := h.status(); !hasEvent(st, "agent_back", "h02") {
		t.Fatalf("events %+v", st.Events)
	}
}

func hasEvent(st api.Status, kind, agent string) bool {
	for _, e := range st.Events {
		if e.Kind == kind && (agent == "" || e.Agent == agent) {
			return true
		}
	}
	return false
}

// snap exports a histogram holding the given microsecond values.
func snap(vals ...int64) *hdrhistogram.Snapshot {
	h := telemetry.NewHistogram()
	for _, v := range vals {
		h.RecordValue(v)
	}
	return telemetry.Export(h)
}

// hist is snap as an agent sends it.
func hist(vals ...int64) *api.Hist { return api.HistOf(snap(vals...)) }

// twoAgentsAt100 registers agents h01 and h02, connects 2,000 users over
// them and sets 100/s; it returns the second the rate takes effect.
func (h *harness) twoAgentsAt100() int64 {
	h.t.Helper()
	h.register("h01", 1000)
	h.register("h02", 1000)
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 2000}, nil)
	var q api.QPSResponse
	h.do(testToken, "POST", api.PathQPS, api.QPSRequest{Q: 100, DelayMillis: 1000}, &q)
	return q.Effective
}

// repeat is n latencies of us microseconds.
func repeat(n int, us int64) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = us
	}
	return v
}

func TestTimelineMergesWindows(t *testing.T) {
	h := newHarness(t)
	sec := h.twoAgentsAt100()

	// h01: 60 fast answers; h02: 40 slow ones. An average of the two
	// agents' p99 would say 5.5 ms; the merged histogram says 10 ms.
	fast, slow := repeat(60, 1000), repeat(40, 10000)
	w1 := api.Window{T: sec, Sent: 60, Received: 60, None: 60, ShakeLatency: hist(fast...)}
	w2 := api.Window{T: sec, Sent: 40, Received: 40, Got: 40, GrantAmount: 400, ShakeLatency: hist(slow...)}
	h.heartbeat("h01", api.Heartbeat{Seq: 1, Windows: []api.Window{w1}})
	h.heartbeat("h02", api.Heartbeat{Seq: 1, Windows: []api.Window{w2}})
	// A resent batch (same Seq) counts once.
	h.heartbeat("h02", api.Heartbeat{Seq: 1, Windows: []api.Window{w2}})

	h.clk.t = time.Unix(sec+1, 0).Add(DefaultSettle + 10*time.Millisecond)
	h.c.tick()
	st := h.status()
	if st.Last == nil || st.Last.T != sec {
		t.Fatalf("last second %+v, want %d", st.Last, sec)
	}
	l := st.Last
	if l.Target != 100 || l.Sent != 100 || l.Received != 100 || l.Got != 40 || l.None != 60 || l.GrantAmount != 400 {
		t.Fatalf("second %+v", l)
	}
	if l.Shake.Count != 100 || l.Shake.P99 < 9.9 || l.Shake.P50 > 1.1 {
		t.Fatalf("merged latency %+v, want p50 1 ms and p99 10 ms", l.Shake)
	}
	if n := len(st.Seconds); n == 0 || st.Seconds[n-1] != (api.SecondBrief{T: sec, Target: 100, Sent: 100, Received: 100, P99: l.Shake.P99}) {
		t.Fatalf("seconds %+v", st.Seconds)
	}
	h.c.Close()
	f, err := os.Open(filepath.Join(h.dir, TimelineFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seconds, events int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("timeline line %q: %v", sc.Text(), err)
		}
		if _, ok := m["event"]; ok {
			events++
			continue
		}
		seconds++
		if m["t"].(float64) == float64(sec) && m["agents"].(map[string]any)["h02"].(map[string]any)["sent"].(float64) != 40 {
			t.Fatalf("per-agent line %s", sc.Text())
		}
	}
	if seconds == 0 || events < 4 {
		t.Fatalf("timeline has %d seconds and %d events", seconds, events)
	}
}

func TestForwardSplitsExactly(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	got := map[string]api.ShakeRequest{}
	admins := make([]api.Admin, 3)
	for i := range admins {
		tok := "admin" + itoa(int64(i))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+tok {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			if r.URL.Path == "/v1/stats" { // connect's check of the admin API
				w.Write([]byte("{}"))
				return
			}
			if r.URL.Path != "/v1/shake" {
				http.Error(w, "no", http.StatusNotFound)
				return
			}
			var req api.ShakeRequest
			json.NewDecoder(r.Body).Decode(&req)
			mu.Lock()
			got[tok] = req
			mu.Unlock()
			w.Write([]byte("{}"))
		}))
		t.Cleanup(srv.Close)
		admins[i] = api.Admin{URL: srv.URL, Token: tok}
	}
	h.register("h01", 10)
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, Admins: admins, Users: 10}, nil)
	var fr api.ForwardResponse
	if code := h.do(testToken, "POST", api.PathShake, api.ShakeRequest{Rate: 200, Total: 40000, MinAmount: 5, MaxAmount: 50}, &fr); code != 200 {
		t.Fatalf("shake: HTTP %d %+v", code, fr)
	}
	rate, total := 0, 0
	for _, r := range got {
		rate += r.Rate
		total += r.Total
		if r.MinAmount != 5 || r.MaxAmount != 50 {
			t.Fatalf("amounts not forwarded: %+v", r)
		}
	}
	if len(got) != 3 || rate != 200 || total != 40000 {
		t.Fatalf("servers got %+v: rate %d total %d", got, rate, total)
	}
	if st := h.status(); !hasEvent(st, "shake", "") {
		t.Fatalf("no shake event: %+v", st.Events)
	}
}

func TestDisconnectEndsPlan(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 10)
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10}, nil)
	as, _ := h.assignment("h01", 0)
	if code := h.do(testToken, "POST", api.PathDisconnect, nil, nil); code != 200 {
		t.Fatalf("disconnect: HTTP %d", code)
	}
	as2, code := h.assignment("h01", as.Version)
	if code != 200 || !as2.Disconnected || len(as2.Users) != 0 {
		t.Fatalf("after disconnect: HTTP %d %+v", code, as2)
	}
	if code := h.do(testToken, "POST", api.PathQPS, api.QPSRequest{Q: 5}, nil); code != http.StatusConflict {
		t.Fatalf("qps after disconnect: HTTP %d, want 409", code)
	}
}

func TestUnknownAgentMustRegister(t *testing.T) {
	h := newHarness(t)
	if code := h.heartbeat("ghost", api.Heartbeat{}); code != http.StatusNotFound {
		t.Fatalf("heartbeat of an unknown agent: HTTP %d, want 404", code)
	}
}

func inPlan(p *schedule.Plan, uid uint32) bool {
	_, ok := p.Index(uid)
	return ok
}

func TestDroppedPollConnectionIsDeathSooner(t *testing.T) {
	h := newHarness(t)
	h.c.cfg.PollTimeout = time.Minute
	h.register("h01", 10)
	h.register("h02", 10)
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 20}, nil)
	as, _ := h.assignment("h01", 0)

	// h01 waits in a long poll, then its process dies: the connection drops.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/v1/agents/h01/assignment?after="+itoa(as.Version), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	waitFor(t, 2*time.Second, "the poll to start", func() bool {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		return h.c.reg.byName["h01"].polling == 1
	})
	cancel()
	<-done
	waitFor(t, 2*time.Second, "the dropped poll to be seen", func() bool {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		return !h.c.reg.byName["h01"].pollLost.IsZero()
	})
	h.c.tick()
	if st := h.status(); !st.Agents[0].Alive {
		t.Fatal("dead before the grace passed")
	}
	h.clk.Add(DefaultPollGrace)
	h.heartbeat("h02", api.Heartbeat{})
	h.c.tick()
	st := h.status()
	if st.Agents[0].Alive || !st.Agents[1].Alive || !hasEvent(st, "replan", "") {
		t.Fatalf("after a dropped poll and the grace: %+v %+v", st.Agents, st.Events)
	}
}

// waitFor polls a condition (internal/testwait).
var waitFor = testwait.For

func TestPlanIDsSurviveRestart(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 10)
	var resp api.ConnectResponse
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10}, &resp)
	h.c.Close()
	c2, err := New(Config{DataDir: h.dir, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.nextID != resp.PlanID+1 {
		t.Fatalf("restarted coordinator's next plan %d, want %d: agents would ignore it", c2.nextID, resp.PlanID+1)
	}
}

// TestPlanHistorySurvivesRestart: the plans the agents ran, with the rate
// changes, are kept in the data dir, so that a verification after a
// restart still bounds the crashes before it by them; the run before ends
// at the restart.
func TestPlanHistorySurvivesRestart(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 10)
	var resp api.ConnectResponse
	h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10}, &resp)
	h.do(testToken, "POST", api.PathQPS, api.QPSRequest{Q: 7}, nil)
	h.c.mu.Lock()
	want := make([]epoch, len(h.c.history))
	for i, e := range h.c.history {
		want[i] = epoch{start: e.start, plan: clonePlan(e.plan)}
	}
	h.c.mu.Unlock()
	h.c.Close()
	c2, err := New(Config{DataDir: h.dir, Token: testToken, Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := c2.history
	if len(want) == 0 || len(got) != len(want)+1 || got[len(got)-1].plan != nil {
		t.Fatalf("history after restart: %d epochs %+v, want the %d before and the end of the run", len(got), got, len(want))
	}
	for i := range want {
		if got[i].start != want[i].start || !reflect.DeepEqual(got[i].plan, want[i].plan) {
			t.Fatalf("epoch %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if q := got[len(want)-1].plan.RateAt(h.clk.Now().Add(time.Hour).UnixNano()); q != 7 {
		t.Fatalf("the rate set before the restart is %d in the saved plan, want 7", q)
	}
}
