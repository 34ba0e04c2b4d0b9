package coordinator

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

// pointLog is a telemetry sink that keeps every point.
type pointLog struct {
	mu sync.Mutex
	ps []telemetry.Point
}

func (l *pointLog) Write(ps ...telemetry.Point) {
	l.mu.Lock()
	l.ps = append(l.ps, ps...)
	l.mu.Unlock()
}
func (l *pointLog) Close() error { return nil }
func (l *pointLog) Stats() telemetry.SinkStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return telemetry.SinkStats{Written: int64(len(l.ps)), Errors: 1, LastError: "boom"}
}

// find returns the points of measurement m carrying every tag of kv.
func (l *pointLog) find(m string, kv ...string) []telemetry.Point {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []telemetry.Point
next:
	for _, p := range l.ps {
		if p.Measurement != m {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if v, ok := p.Tag(kv[i]); !ok || v != kv[i+1] {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

func field(t *testing.T, p telemetry.Point, key string) telemetry.Value {
	t.Helper()
	v, ok := p.Field(key)
	if !ok {
		t.Fatalf("%s %v: no field %s in %v", p.Measurement, p.Tags, key, p.Fields)
	}
	return v
}

// newSinkHarness is newHarness with a PointSink writing to a pointLog.
func newSinkHarness(t *testing.T) (*harness, *pointLog) {
	t.Helper()
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 250_000_000)}
	log := &pointLog{}
	sink := PointSink{Out: log, Named: []NamedSink{{Name: "file", Target: "metrics.lp", Sink: log}}}
	c, err := New(Config{DataDir: dir, Token: testToken, TimePort: 7071, Now: clk.Now, PollTimeout: 200 * time.Millisecond, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		srv.Close()
		c.Close()
	})
	return &harness{t: t, c: c, srv: srv, clk: clk, dir: dir}, log
}

func TestPointsOfASecond(t *testing.T) {
	h, log := newSinkHarness(t)
	sec := h.twoAgentsAt100()

	fast, slow := repeat(30, 1000), repeat(40, 10000)
	// h01 reports its second in two windows (a re-started engine does):
	// its percentiles come from both merged.
	w1a := api.Window{T: sec, Fires: 30, Sent: 30, Received: 30, None: 30, ShakeLatency: hist(fast...), Lateness: hist(100)}
	w1b := api.Window{T: sec, Fires: 30, Sent: 30, Received: 30, None: 30, ShakeLatency: hist(fast...), Lateness: hist(300)}
	w2 := api.Window{T: sec, Fires: 40, Sent: 40, Received: 40, Got: 40, GrantAmount: 400, ShakeLatency: hist(slow...),
		OpenSent: 3, OpenAnswered: 3, OpenAmount: 90, Notified: 3, OpenLatency: hist(2000, 2000, 4000)}
	// Report when the second is due to be final, so no agent is silent
	// long enough to be dead at the tick.
	h.clk.t = time.Unix(sec+1, 0).Add(DefaultSettle + 10*time.Millisecond)
	now := h.clk.Now().UnixNano()
	host := &api.HostMetrics{Dropped: 2, Lines: fmt.Sprintf(""+
		"net,host=liar,interface=eth0 bytes_sent=10i,bytes_recv=20i %d\n"+
		"cpu,cpu=cpu-total,host=h01 usage_idle=90 %d\n"+
		"disk,host=h01 used=1i %d\n"+ // not a host measurement
		"mem,host=h01 used=5i 1700000000000000000\n", // far from now
		now, now, now)}
	h.heartbeat("h01", api.Heartbeat{Seq: 1, Windows: []api.Window{w1a, w1b}, OffsetMicros: -1500, DelayMicros: 300, ClockOK: true,
		Status: api.AgentStatus{Target: 1000, Established: 998, Failed: 2, Closed: 1}, Host: host})
	h.heartbeat("h02", api.Heartbeat{Seq: 1, Windows: []api.Window{w2}, Status: api.AgentStatus{Target: 1000, Established: 1000}})

	h.clk.t = time.Unix(sec+1, 0).Add(DefaultSettle + 10*time.Millisecond)
	h.c.tick()

	at := time.Unix(sec, 0)
	one := func(m string, kv ...string) telemetry.Point {
		t.Helper()
		var got []telemetry.Point
		for _, p := range log.find(m, kv...) {
			if p.Time.Equal(at) {
				got = append(got, p)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s %v at %d: %d points, want 1", m, kv, sec, len(got))
		}
		return got[0]
	}
	for _, tc := range []struct {
		m, field string
		tags     []string
		want     int64
	}{
		{telemetry.MeasRequests, "sent", []string{"role", "total", "host", "all", "cmd", "shake"}, 100},
		{telemetry.MeasRequests, "got", []string{"role", "total", "host", "all", "cmd", "shake"}, 40},
		{telemetry.MeasRequests, "sent", []string{"role", "total", "host", "all", "cmd", "open"}, 3},
		{telemetry.MeasRequests, "sent", []string{"role", "agent", "host", "h01", "cmd", "shake"}, 60},
		{telemetry.MeasRequests, "none", []string{"role", "agent", "host", "h01", "cmd", "shake"}, 60},
		{telemetry.MeasRequests, "received", []string{"role", "agent", "host", "h02", "cmd", "open"}, 3},
		{telemetry.MeasRequests, "missed", []string{"role", "agent", "host", "h02", "cmd", "open"}, 0},
		{telemetry.MeasLatency, "count", []string{"host", "all", "cmd", "shake"}, 100},
		{telemetry.MeasLatency, "count", []string{"host", "h01", "cmd", "shake"}, 60},
		{telemetry.MeasLatency, "count", []string{"host", "h02", "cmd", "open"}, 3},
		{telemetry.MeasEnvelopes, "received", []string{"role", "agent", "kind", "shake"}, 40},
		{telemetry.MeasEnvelopes, "amount", []string{"role", "agent", "kind", "shake"}, 400},
		{telemetry.MeasEnvelopes, "received", []string{"role", "agent", "kind", "send"}, 3},
		{telemetry.MeasEnvelopes, "amount", []string{"role", "agent", "kind", "send"}, 90},
		{telemetry.MeasConnections, "established", []string{"role", "agent", "host", "h01"}, 998},
		{telemetry.MeasConnections, "failed", []string{"role", "agent", "host", "h01"}, 2},
		{telemetry.MeasConnections, "target", []string{"role", "agent", "host", "h02"}, 1000},
		{telemetry.MeasSchedule, "target_qps", []string{"host", "all"}, 100},
		{telemetry.MeasSchedule, "target_qps", []string{"host", "h01"}, 60},
	} {
		if got := field(t, one(tc.m, tc.tags...), tc.field).Int(); got != tc.want {
			t.Errorf("%s %v %s = %d, want %d", tc.m, tc.tags, tc.field, got, tc.want)
		}
	}
	// Percentiles come from merged histograms, per agent and over all:
	// an average of the agents' p99 (5.5 ms) would be wrong.
	if p99 := field(t, one(telemetry.MeasLatency, "host", "all", "cmd", "shake"), "p99").Float(); p99 < 9.9 || p99 > 10.1 {
		t.Errorf("p99 over all agents %v ms, want 10", p99)
	}
	if p99 := field(t, one(telemetry.MeasLatency, "host", "h01", "cmd", "shake"), "p99").Float(); p99 < 0.99 || p99 > 1.01 {
		t.Errorf("h01 p99 %v ms, want 1", p99)
	}
	s := one(telemetry.MeasSchedule, "host", "h01")
	if off, late := field(t, s, "clock_offset").Float(), field(t, s, "lateness_p99").Float(); off != -1.5 || late < 0.29 || late > 0.31 {
		t.Errorf("h01 schedule: offset %v ms, lateness p99 %v ms; want -1.5 and 0.3", off, late)
	}
	if ps := log.find(telemetry.MeasLatency, "host", "h01", "cmd", "open"); len(ps) != 0 {
		t.Errorf("h01 measured no OPEN but has latency points %v", ps)
	}

	// Host points: tagged with the agent's name whatever it wrote; other
	// measurements and far-off times refused and counted with the agent's
	// own drops.
	if net := log.find(telemetry.MeasNet, "host", "h01", "interface", "eth0"); len(net) != 1 {
		t.Errorf("net points of h01: %v", net)
	}
	if len(log.find(telemetry.MeasNet, "host", "liar")) != 0 || len(log.find("disk")) != 0 || len(log.find(telemetry.MeasMem)) != 0 {
		t.Errorf("refused host points reached the sink")
	}
	st := h.status()
	if tel := st.Telemetry; tel == nil || tel.HostPoints != 2 || tel.HostRefused != 4 ||
		len(tel.Sinks) != 1 || tel.Sinks[0].Name != "file" || tel.Sinks[0].Errors != 1 || tel.Sinks[0].LastError != "boom" {
		t.Fatalf("status telemetry %+v", st.Telemetry)
	}

	// The run's histograms are written on close, exact over every window.
	h.c.Close()
	rh, err := ReadRunHistograms(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := telemetry.Merge(rh.Shake); m.TotalCount() != 100 || rh.First != sec || rh.Last != sec || rh.Sent != 100 {
		t.Fatalf("run histograms: %d SHAKEs, seconds %d..%d, sent %d", m.TotalCount(), rh.First, rh.Last, rh.Sent)
	}
	if p := telemetry.PercentilesOf(telemetry.Merge(rh.Open)); p.Count != 3 || p.Max < 3.99 {
		t.Fatalf("run open latency %+v", p)
	}
	if left, _ := filepath.Glob(filepath.Join(h.dir, RunHistogramsFile+".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestRunHistogramsAtomicAndValidated(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadRunHistograms(dir); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
	rh := &RunHistograms{First: 5, Last: 9, Shake: snap(1000, 2000)}
	if err := WriteRunHistograms(dir, rh); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRunHistograms(dir)
	if err != nil || telemetry.Merge(got.Shake).TotalCount() != 2 {
		t.Fatalf("read back %+v, %v", got, err)
	}
	// A snapshot that does not validate is an error, not a wrong percentile.
	bad := `{"first":1,"shake":{"LowestTrackableValue":1,"HighestTrackableValue":2,"SignificantFigures":9,"Counts":[1]}}`
	if err := os.WriteFile(filepath.Join(dir, RunHistogramsFile), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRunHistograms(dir); err == nil || !strings.Contains(err.Error(), "shake") {
		t.Fatalf("invalid snapshot: %v", err)
	}
	// Writing into a missing directory fails and leaves nothing behind.
	if err := WriteRunHistograms(filepath.Join(dir, "nope"), rh); err == nil {
		t.Fatal("write into a missing dir succeeded")
	}
}
