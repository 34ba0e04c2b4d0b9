package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/dashboards"
	"github.com/hbctl/hbctl/telemetry/influxtest"
)

// influxServerHost is the host tag the test's server writes under.
const influxServerHost = "srv01"

var influxAgents = []string{"h02", "h03", "h04"}

// startInfluxRun starts a server and a coordinator writing to InfluxDB at
// url, and three agents, and connects 1,500 users.
func startInfluxRun(t *testing.T, url string, coordArgs ...string) *runEnv {
	t.Helper()
	tmp := t.TempDir()
	r := &runEnv{t: t, serverDir: filepath.Join(tmp, "server"), coordDir: filepath.Join(tmp, "coord")}
	srv := start(t, "server", nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data-dir", r.serverDir, "--influx-url", url, "--host-name", influxServerHost)
	m := srv.match(t, serverLine, 15*time.Second)
	r.wire, r.adminURL = m[1], "http://"+m[2]
	tok, err := os.ReadFile(m[3])
	if err != nil {
		t.Fatal(err)
	}
	r.adminToken = strings.TrimSpace(string(tok))

	args := append([]string{"coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0",
		"--data-dir", r.coordDir, "--influx-url", url}, coordArgs...)
	co := start(t, "coordinator", nil, args...)
	m = co.match(t, coordLine, 15*time.Second)
	r.coordURL = "http://" + m[1]
	r.env = []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + r.coordDir}
	for i, name := range influxAgents {
		start(t, name, r.env, "agent", "--name", name, "--bind", fmt.Sprintf("127.0.0.%d", i+2),
			"--capacity", "1500", "--data-dir", filepath.Join(tmp, name))
	}
	waitFor(t, 15*time.Second, "three live agents", func() bool {
		n := 0
		for _, a := range r.status().Agents {
			if a.Alive {
				n++
			}
		}
		return n == len(influxAgents)
	})
	res := r.hb("connect", "--server", r.wire, "--admin", r.adminURL, "--server-data-dir", r.serverDir,
		"--users", "1500", "--wait", "--timeout", "20s")
	if res.code != 0 {
		t.Fatalf("connect: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	return r
}

// setQPS sets the rate at a time (e.g. "+1s") and returns the second it
// takes effect.
func (r *runEnv) setQPS(q int, at string) int64 {
	r.t.Helper()
	res := r.hb("qps", "set", strconv.Itoa(q), "--at", at, "--json")
	if res.code != 0 {
		r.t.Fatalf("qps set %d: exit %d: %s", q, res.code, res.err)
	}
	var qr api.QPSResponse
	if err := json.Unmarshal([]byte(res.out), &qr); err != nil {
		r.t.Fatal(err)
	}
	return qr.Effective
}

// influxInt runs a query answering one integer (a sum or count); 0 when
// it returns no rows.
func influxInt(t *testing.T, ix *influxtest.Influx, q string) int64 {
	t.Helper()
	rows := ix.Rows(t, q)
	if len(rows) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(fmt.Sprint(rows[0][1]), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// timelineSent sums SHAKEs sent over the seconds of timeline.jsonl.
func timelineSent(t *testing.T, dir string) (sum int64) {
	for _, per := range agentSent(t, dir) {
		for _, n := range per {
			sum += n
		}
	}
	return sum
}

func TestInfluxRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes and influxd")
	}
	ix := influxtest.Start(t)
	begin := time.Now()
	r := startInfluxRun(t, ix.URL())

	t1 := r.setQPS(300, "+1s")
	if res := r.hb("shake", "--rate", "100", "--total", "200"); res.code != 0 {
		t.Fatalf("shake: exit %d: %s", res.code, res.err)
	}
	if res := r.hb("send", "--rate", "30", "--total", "30", "--recipients", "3"); res.code != 0 {
		t.Fatalf("send: exit %d: %s", res.code, res.err)
	}
	tz := r.setQPS(0, time.Unix(t1+6, 0).Format(time.RFC3339))
	waitFor(t, 15*time.Second, "the server to release 200 shake and send 30 envelopes", func() bool {
		s := r.serverStats()
		return s.Shake.Issued == 200 && s.Send.Sent == 30
	})
	// Every second up to two past the stop is final: nothing is sent any
	// more, so the run's totals are final too.
	st := r.waitComplete(tz + 2)
	if st.LateWindows != 0 || st.Run.Sent < 6*300 {
		t.Fatalf("run: %d late windows, %d sent; want none late and at least 1800 sent", st.LateWindows, st.Run.Sent)
	}

	t.Run("every measurement with its tags", func(t *testing.T) {
		for _, q := range []string{
			`SELECT sent FROM hb_requests WHERE role='total' AND host='all' AND cmd='shake'`,
			`SELECT sent FROM hb_requests WHERE role='total' AND host='all' AND cmd='open' AND sent > 0`,
			`SELECT got, none, missed, lost FROM hb_requests WHERE role='agent' AND host='h02' AND cmd='shake'`,
			`SELECT sent FROM hb_requests WHERE role='agent' AND host='h03' AND cmd='open' AND sent > 0`,
			`SELECT received FROM hb_requests WHERE role='server' AND host='srv01' AND cmd='shake'`,
			`SELECT p50, p90, p99, p999, max, count FROM hb_latency WHERE host='all' AND cmd='shake'`,
			`SELECT p99 FROM hb_latency WHERE host='all' AND cmd='open'`,
			`SELECT p99 FROM hb_latency WHERE host='h04' AND cmd='shake'`,
			`SELECT granted, amount FROM hb_envelopes WHERE role='server' AND kind='shake' AND granted > 0`,
			`SELECT issued FROM hb_envelopes WHERE role='server' AND kind='send' AND issued > 0`,
			`SELECT opened, amount FROM hb_envelopes WHERE role='server' AND kind='send' AND opened > 0`,
			`SELECT received, amount FROM hb_envelopes WHERE role='agent' AND kind='shake' AND received > 0`,
			`SELECT opened FROM hb_envelopes WHERE role='agent' AND kind='send' AND opened > 0`,
			`SELECT established, target FROM hb_connections WHERE role='agent' AND host='h02' AND established = 500`,
			`SELECT established FROM hb_connections WHERE role='server' AND host='srv01' AND established = 1500`,
			`SELECT target_qps FROM hb_schedule WHERE host='all' AND target_qps = 300`,
			`SELECT target_qps, lateness_p99, clock_offset, clock_delay FROM hb_schedule WHERE host='h03' AND target_qps = 100`,
			`SELECT bytes_recv, packets_sent FROM net WHERE host='h02'`,
			`SELECT bytes_recv FROM net WHERE host='srv01'`,
			`SELECT usage_idle FROM cpu WHERE host='h04' AND cpu='cpu-total'`,
			`SELECT usage_idle FROM cpu WHERE host='srv01'`,
			`SELECT used, available FROM mem WHERE host='h03'`,
			`SELECT used FROM mem WHERE host='srv01'`,
		} {
			ix.WaitRows(t, q, 1, 10*time.Second)
		}
		// The only hosts are the agents, the server and the merge "all".
		hosts := map[string]bool{}
		for _, m := range []string{"hb_requests", "hb_latency", "hb_connections", "hb_schedule", "net", "cpu", "mem"} {
			for _, row := range ix.Rows(t, fmt.Sprintf(`SHOW TAG VALUES FROM %q WITH KEY = "host"`, m)) {
				hosts[fmt.Sprint(row[1])] = true
			}
		}
		for h := range hosts {
			if h != "all" && h != influxServerHost && !strings.HasPrefix(h, "h0") {
				t.Errorf("unexpected host tag %q", h)
			}
		}
		for _, m := range []string{"hb_requests", "hb_latency"} {
			for _, row := range ix.Rows(t, fmt.Sprintf(`SHOW TAG VALUES FROM %q WITH KEY = "cmd"`, m)) {
				if v := fmt.Sprint(row[1]); v != "shake" && v != "open" {
					t.Errorf("%s: cmd tag %q, want shake or open", m, v)
				}
			}
		}
	})

	t.Run("per-second sums are the run's totals", func(t *testing.T) {
		want := st.Run.Sent
		if tl := timelineSent(t, r.coordDir); tl != want {
			t.Fatalf("timeline sums %d SHAKEs, status %d", tl, want)
		}
		var got int64
		waitFor(t, 10*time.Second, "InfluxDB's per-second SHAKEs to sum to the run's", func() bool {
			got = influxInt(t, ix, `SELECT sum("sent") FROM hb_requests WHERE role='total' AND cmd='shake'`)
			return got == want
		})
		var agents int64
		for _, a := range influxAgents {
			agents += influxInt(t, ix, fmt.Sprintf(`SELECT sum("sent") FROM hb_requests WHERE role='agent' AND host='%s' AND cmd='shake'`, a))
		}
		if agents != want {
			t.Errorf("the agents' per-second SHAKEs sum to %d, want %d", agents, want)
		}
		// The server counts what arrived; its points are the change of its
		// counters each second, so they sum to its total.
		srvTotal := r.serverStats().Requests.Shake
		if srvTotal < want*99/100 {
			t.Fatalf("server received %d SHAKEs of %d sent", srvTotal, want)
		}
		var srvGot int64
		waitFor(t, 10*time.Second, "the server's per-second SHAKEs to sum to its total", func() bool {
			srvGot = influxInt(t, ix, `SELECT sum("received") FROM hb_requests WHERE role='server' AND cmd='shake'`)
			return srvGot == srvTotal
		})
		t.Logf("SHAKEs: run %d, InfluxDB total %d, agents %d; server received %d, InfluxDB server %d", want, got, agents, srvTotal, srvGot)
		s := r.serverStats()
		issued := influxInt(t, ix, `SELECT sum("issued") FROM hb_envelopes WHERE role='server' AND kind='shake'`)
		sent := influxInt(t, ix, `SELECT sum("issued") FROM hb_envelopes WHERE role='server' AND kind='send'`)
		if issued != s.Shake.Issued || sent != s.Send.Sent {
			t.Errorf("server envelopes in InfluxDB: %d shake issued, %d sent; stats %d and %d", issued, sent, s.Shake.Issued, s.Send.Sent)
		}
	})

	t.Run("every dashboard query has data", func(t *testing.T) {
		for _, name := range []string{dashboards.Overview, dashboards.Hosts} {
			vars, queries, err := dashboards.Queries(name)
			if err != nil {
				t.Fatal(err)
			}
			all := map[string]string{}
			for _, v := range vars {
				all[v.Name] = v.AllValue
			}
			// One concrete value per variable, in order, as Grafana
			// resolves them (interface depends on host).
			concrete := map[string]string{}
			for _, v := range vars {
				var values []string
				for _, row := range ix.Rows(t, dashboards.Expand(v.Query, all)) {
					values = append(values, fmt.Sprint(row[1]))
				}
				sort.Strings(values)
				if len(values) == 0 {
					t.Fatalf("%s: variable %s has no values", name, v.Name)
				}
				concrete[v.Name] = regexp.QuoteMeta(values[0])
			}
			t.Logf("%s: concrete values %v", name, concrete)
			for _, q := range queries {
				for _, vs := range []map[string]string{all, concrete} {
					text := dashboards.Expand(q.Text, vs)
					if err := hasData(ix, text); err != nil {
						t.Errorf("%s panel %d %q query %s: %v\n\t%s", name, q.Panel, q.Title, q.RefID, err, text)
					}
				}
			}
		}
	})

	t.Run("report percentiles are exact", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "report.html")
		if res := r.hb("report", "--data-dir", r.coordDir, "--out", out); res.code != 0 {
			t.Fatalf("report: exit %d: %s", res.code, res.err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "exact, from the merged run histogram") {
			t.Fatal("the report gives bounds although run-histograms.json covers the run")
		}
	})
	if d := time.Since(begin); d > 60*time.Second {
		t.Errorf("the run took %v, over its 60 s budget", d)
	}
}

// hasData wants at least one series with a non-null value.
func hasData(ix *influxtest.Influx, q string) error {
	series, err := ix.TryQuery(q)
	if err != nil {
		return err
	}
	for _, s := range series {
		for _, row := range s.Values {
			for i, v := range row {
				if s.Columns[i] != "time" && v != nil {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("%d series, no value", len(series))
}

// influxSink is the coordinator's InfluxDB sink in status.
func influxSink(st api.Status) api.SinkStatus {
	if st.Telemetry != nil {
		for _, s := range st.Telemetry.Sinks {
			if s.Name == "influx" {
				return s
			}
		}
	}
	return api.SinkStatus{}
}

func TestInfluxDown(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes and influxd")
	}
	ix := influxtest.Start(t)
	begin := time.Now()
	// A small queue, so a hung InfluxDB shows as drops within seconds.
	r := startInfluxRun(t, ix.URL(), "--influx-queue", "64")
	t1 := r.setQPS(300, "+1s")
	ix.WaitRows(t, `SELECT sent FROM hb_requests WHERE role='total' AND sent > 0`, 1, 15*time.Second)

	// First hung (stopped: connections accepted, never answered), then
	// dead (killed: connections refused).
	pid := ix.PID()
	if pid == 0 {
		t.Fatal("no influxd PID")
	}
	down := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var st api.Status
	waitFor(t, 20*time.Second, "status to show dropped points and errors", func() bool {
		st = r.status()
		s := influxSink(st)
		return s.Dropped > 0 && s.Errors > 0 && s.LastError != ""
	})
	t.Logf("InfluxDB hung for %v: influx sink %+v", time.Since(down).Round(time.Millisecond), influxSink(st))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "influxd to be gone", func() bool {
		return syscall.Kill(pid, 0) != nil
	})
	text := r.hb("status")
	if text.code != 0 || !regexp.MustCompile(`influx\s+http://\S+\s+\d+\s+[1-9]\d*\s+[1-9]\d*\s+\S`).MatchString(text.out) {
		t.Errorf("hbctl status does not show the InfluxDB sink's drops and errors:\n%s", text.out)
	}

	// The load went on at the exact rate while InfluxDB was away.
	upAt := time.Now()
	ix.Restart(t)
	st = r.waitComplete(upAt.Unix() + 1)
	checked := 0
	for _, s := range st.Seconds {
		if s.T > t1 && s.T >= down.Unix() && s.T <= upAt.Unix() {
			checked++
			if s.Sent != 300 || s.Target != 300 {
				t.Errorf("second %d, InfluxDB away: sent %d, target %d; want 300", s.T, s.Sent, s.Target)
			}
		}
	}
	t.Logf("%d seconds at the exact rate while InfluxDB was away", checked)
	if checked < 3 {
		t.Fatalf("only %d seconds while InfluxDB was away", checked)
	}
	// Writing resumes: points of seconds after the restart land.
	ix.WaitRows(t, fmt.Sprintf(`SELECT sent FROM hb_requests WHERE role='total' AND cmd='shake' AND time >= %d`,
		upAt.Truncate(time.Second).UnixNano()), 1, 30*time.Second)
	ix.WaitRows(t, fmt.Sprintf(`SELECT received FROM hb_requests WHERE role='server' AND time >= %d`,
		upAt.Truncate(time.Second).UnixNano()), 1, 30*time.Second)
	if d := time.Since(begin); d > 60*time.Second {
		t.Errorf("the test took %v, over its 60 s budget", d)
	}
}
