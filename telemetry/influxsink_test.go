package telemetry

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/telemetry/influxtest"
)

var quiet = slog.New(slog.DiscardHandler)

func newInfluxSink(t *testing.T, url string, mod func(*InfluxConfig)) *InfluxSink {
	t.Helper()
	cfg := InfluxConfig{
		URL:           url,
		Bucket:        influxtest.Database + "/autogen",
		FlushInterval: 50 * time.Millisecond,
		RetryInterval: 200 * time.Millisecond,
		MaxRetryDelay: time.Second,
		Logger:        quiet,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewInfluxSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNewInfluxSinkRefusesBadURL(t *testing.T) {
	if _, err := NewInfluxSink(InfluxConfig{}); err != ErrNoInfluxURL {
		t.Fatalf("no URL: %v", err)
	}
	if _, err := NewInfluxSink(InfluxConfig{URL: "127.0.0.1:8086"}); err == nil {
		t.Fatal("URL without scheme accepted")
	}
}

// TestInfluxSinkRealServer runs against one influxd (starting one is slow
// on a loaded machine); the restart case goes last.
func TestInfluxSinkRealServer(t *testing.T) {
	db := influxtest.Start(t)
	t.Run("measurements", func(t *testing.T) { testMeasurements(t, db) })
	t.Run("unsigned", func(t *testing.T) { testUnsignedLands(t, db) })
	t.Run("restart", func(t *testing.T) { testSurvivesRestart(t, db) })
}

// testMeasurements writes a point of every measurement hbctl produces and
// reads each back with InfluxQL: same tags, same values, and every counter
// stored as an integer.
func testMeasurements(t *testing.T, db *influxtest.Influx) {
	s := newInfluxSink(t, db.URL(), nil)
	now := time.Now().Truncate(time.Second)
	hostPoints, err := NewSampler(nil, WithHost("h01")).Collect(now)
	if err != nil {
		t.Fatal(err)
	}
	ps := []Point{
		{MeasRequests, Tags("role", "agent", "host", "h01", "cmd", "shake"), []Field{Int("sent", 30000), Int("received", 29998)}, now},
		LatencyPoint("all", "shake", Percentiles{P50: 0.5, P90: 1.25, P99: 7, P999: 30.5, Max: 41, Count: 60000}, now),
		{MeasEnvelopes, Tags("role", "server", "kind", "shake"), []Field{Int("issued", 40000), Int("granted", 39990), Int("amount", 123456789)}, now},
		{MeasConnections, Tags("role", "agent", "host", "h01"), []Field{Int("established", 58000), Int("target", 60000), Int("failed", 2), Int("closed", 0)}, now},
		{MeasSchedule, Tags("host", "h01"), []Field{Int("target_qps", 60000), Float("lateness_p99", 0.8), Float("clock_offset", -0.012), Float("clock_delay", 0.2)}, now},
	}
	ps = append(ps, hostPoints...)
	s.Write(ps...)

	for _, p := range ps {
		where := []string{}
		for _, tg := range p.Tags {
			where = append(where, fmt.Sprintf("%q='%s'", tg.Key, tg.Value))
		}
		q := fmt.Sprintf("SELECT * FROM %q WHERE %s", p.Measurement, strings.Join(where, " AND "))
		if len(where) == 0 {
			q = fmt.Sprintf("SELECT * FROM %q", p.Measurement)
		}
		db.WaitRows(t, q, 1, 10*time.Second)
		series := db.Query(t, q)
		if len(series) != 1 || len(series[0].Values) != 1 {
			t.Fatalf("%s: %+v", q, series)
		}
		row := map[string]string{}
		for i, col := range series[0].Columns {
			row[col] = fmt.Sprint(series[0].Values[0][i])
		}
		if row["time"] != fmt.Sprint(now.UnixNano()) {
			t.Errorf("%s: time %s, want %d", p.Measurement, row["time"], now.UnixNano())
		}
		for _, tg := range p.Tags {
			if row[tg.Key] != tg.Value {
				t.Errorf("%s: tag %s = %q, want %q", p.Measurement, tg.Key, row[tg.Key], tg.Value)
			}
		}
		types := db.FieldTypes(t, p.Measurement)
		for _, f := range p.Fields {
			if got, want := types[f.Key], f.Value.Kind().String(); got != want {
				t.Errorf("%s.%s stored as %q, want %q", p.Measurement, f.Key, got, want)
			}
			want := fmt.Sprint(f.Value.Any())
			if f.Value.Kind() == KindFloat {
				want = fmt.Sprint(strings.TrimSuffix(fmt.Sprintf("%g", f.Value.Float()), ".0"))
			}
			if row[f.Key] != want {
				t.Errorf("%s.%s = %s, want %s", p.Measurement, f.Key, row[f.Key], want)
			}
		}
	}
	if st := s.Stats(); st.Written != int64(len(ps)) || st.Dropped != 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// testUnsignedLands: InfluxDB 1.8 refuses unsigned integers (and
// the client's non-blocking writer would drop the batch without an error);
// a uint64 counter from a caller goes through Uint, lands as an integer.
func testUnsignedLands(t *testing.T, db *influxtest.Influx) {
	// The trap itself: a "u" value is refused by this InfluxDB.
	resp, err := http.Post(db.URL()+"/write?db="+influxtest.Database, "text/plain", strings.NewReader("trap v=1u\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("InfluxDB accepted an unsigned field (HTTP %d); the trap this test guards is gone", resp.StatusCode)
	}

	s := newInfluxSink(t, db.URL(), nil)
	var bytesSent uint64 = 1 << 40
	var huge uint64 = math.MaxUint64
	s.Write(Point{MeasNet, Tags("host", "h01", "interface", "eth9"), []Field{Uint("bytes_sent", bytesSent), Uint("bytes_recv", huge)}, time.Now()})
	rows := db.WaitRows(t, `SELECT bytes_sent, bytes_recv FROM net WHERE interface='eth9'`, 1, 10*time.Second)
	if fmt.Sprint(rows[0][1]) != "1099511627776" || fmt.Sprint(rows[0][2]) != "9223372036854775807" {
		t.Fatalf("row %v", rows[0])
	}
	if ty := db.FieldTypes(t, MeasNet)["bytes_sent"]; ty != "integer" {
		t.Fatalf("bytes_sent stored as %q", ty)
	}
}

// TestInfluxSinkNeverBlocks: with a server that accepts connections but
// never answers, the client's WritePoint would block; Write must not. The
// queue fills, the rest is dropped and counted, and the client's timeouts
// show up as errors.
func TestInfluxSinkNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	s := newInfluxSink(t, srv.URL, func(c *InfluxConfig) {
		c.QueueSize = 16
		c.BatchSize = 4
		c.HTTPTimeout = time.Second
		c.CloseTimeout = 100 * time.Millisecond
	})
	const n = 20000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			s.Write(Point{"m", Tags("host", "h01"), []Field{Int("v", int64(i))}, time.Unix(int64(i), 0)})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked behind a hung InfluxDB")
	}
	st := s.Stats()
	if st.Dropped < n-100 || st.Written > 100 {
		t.Fatalf("stats %+v: want nearly all %d points dropped", st, n)
	}
	eventually(t, 15*time.Second, "the client's timeout to surface as an error", func() bool {
		return s.Stats().Errors > 0
	})
	if !strings.Contains(s.Stats().LastError, srv.URL) {
		t.Fatalf("LastError %q should name the server", s.Stats().LastError)
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close should report points it could not send")
	}
	s.Write(Point{"m", nil, []Field{Int("v", 1)}, time.Time{}})
	if got := s.Stats().Dropped; got != st.Dropped+1 {
		t.Fatalf("write after Close: dropped %d, want %d", got, st.Dropped+1)
	}
}

func TestInfluxSinkReportsRefusal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"authorization failed"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	s := newInfluxSink(t, srv.URL, nil)
	s.Write(Point{"m", nil, []Field{Int("v", 1)}, time.Now()})
	eventually(t, 10*time.Second, "the 401 to surface", func() bool { return s.Stats().Errors > 0 })
	if st := s.Stats(); !strings.Contains(st.LastError, "authorization failed") {
		t.Fatalf("LastError %q", st.LastError)
	}
}

// testSurvivesRestart stops influxd by PID, keeps writing without
// Write ever blocking, restarts it on the same port and data directory, and
// sees new points land.
func testSurvivesRestart(t *testing.T, db *influxtest.Influx) {
	if testing.Short() {
		t.Skip("restarts influxd")
	}
	s := newInfluxSink(t, db.URL(), nil)
	point := func(phase string, i int) Point {
		return Point{MeasRequests, Tags("host", "h01", "phase", phase), []Field{Int("sent", int64(i))}, time.Now()}
	}
	s.Write(point("before", 1))
	db.WaitRows(t, `SELECT sent FROM hb_requests WHERE phase='before'`, 1, 10*time.Second)

	db.Stop(t)
	var took []time.Duration
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i, end := 0, time.Now().Add(3*time.Second); time.Now().Before(end); i++ {
		<-tick.C
		start := time.Now()
		s.Write(point("down", i))
		took = append(took, time.Since(start))
	}
	// A Write that waited on InfluxDB would take an HTTP attempt each time;
	// one that only queues takes microseconds. The 90th percentile tells
	// them apart where the slowest single Write could be one scheduler
	// stall on a shared host.
	slices.Sort(took)
	if p90 := took[len(took)*9/10]; p90 > 250*time.Millisecond {
		t.Fatalf("Writes took %v at the 90th percentile (slowest %v) while InfluxDB was down", p90, took[len(took)-1])
	}
	eventually(t, 10*time.Second, "connection errors in Stats", func() bool { return s.Stats().Errors > 0 })

	db.Restart(t)
	// Writing resumes: keep writing until a new point is visible.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		s.Write(point("after", i))
		if ss, err := db.TryQuery(`SELECT sent FROM hb_requests WHERE phase='after'`); err == nil && len(ss) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no point landed within 30s of the restart; stats %+v", s.Stats())
		}
		<-tick.C
	}
	if db.Rows(t, `SELECT sent FROM hb_requests WHERE phase='before'`) == nil {
		t.Fatal("points from before the outage are gone")
	}
}
