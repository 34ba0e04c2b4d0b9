package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/telemetry"
)

var update = flag.Bool("update", false, "rewrite testdata/run from the fixture generator")

// fixtureDir is a 60-second run of three agents: connect at 0:00, 300/s
// from 0:10, 600/s from 0:30, 0/s from 0:50; a shake phase granting 20
// envelopes a second from 0:13 to 0:32 and a send phase opening 30 shares
// a second from 0:35 to 0:44; agent h03 dead at 0:42 and back at 0:44.
// The timeline carries the servers' counts (server_received) up to 0:49,
// where they differ from the clients' at 0:20 and 0:21; metrics.lp has the
// servers' own points for every second, which the report uses past 0:49.
const fixtureDir = "testdata/run"

// fixtureT0 is the fixture's first second, 2026-01-01T00:00:00Z.
const fixtureT0 = 1767225600

// Figures of the fixture that tests check the report against.
const (
	fixSent          = 6003 + 11964 // phase 300/s: -3 at 0:15, +6 at 0:20; phase 600/s: -12 at 0:35, -30 at 0:40, +6 at 0:45
	fixReceived      = fixSent - 10 // second 0:40 answered 560 of 570
	fixGot           = 400          // 20 a second over 20 seconds
	fixGrantCents    = 40000        // 2000 a second
	fixOpened        = 300          // 30 a second over 10 seconds
	fixOpenCents     = 10000        // 1000 a second
	fixWorstP99Phase = 40.0
)

func fixtureSent(i int) (target, sent int64) {
	switch {
	case i >= 10 && i < 30:
		target = 300
	case i >= 30 && i < 50:
		target = 600
	}
	sent = target
	switch i {
	case 15:
		sent = 297
	case 20:
		sent = 306
	case 35:
		sent = 588
	case 40:
		sent = 570
	case 45:
		sent = 606
	}
	return target, sent
}

// fixtureServer is the servers' count of second i on the timeline: what
// the clients sent, except that two of the six extra SHAKEs of 0:20
// arrived in 0:21.
func fixtureServer(i int) int64 {
	_, sent := fixtureSent(i)
	switch i {
	case 20:
		return sent - 2
	case 21:
		return sent + 2
	}
	return sent
}

func fixtureTimeline() []byte {
	var buf bytes.Buffer
	line := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	ms := func(sec float64) int64 { return int64((float64(fixtureT0) + sec) * 1000) }
	for _, h := range []string{"h01", "h02", "h03"} {
		line(runrecord.TimelineEvent{T: ms(-5), Kind: "agent_registered", Agent: h, Detail: "capacity 1000"})
	}
	line(runrecord.TimelineEvent{T: ms(0.2), Kind: "connect", PlanID: 1, Detail: "3000 users over 3 agents to [127.0.0.1:1025]"})
	events := map[int][]runrecord.TimelineEvent{
		8:  {{T: ms(8.4), Kind: "qps", Q: 300, At: fixtureT0 + 10, PlanID: 1}},
		12: {{T: ms(12.1), Kind: "shake", Detail: "rate 20/s, total 400 over 1 servers, 0 failed"}},
		28: {{T: ms(28.3), Kind: "qps", Q: 600, At: fixtureT0 + 30, PlanID: 1}},
		34: {{T: ms(34.6), Kind: "send", Detail: "rate 10/s, total 100 over 1 servers, 0 failed"}},
		42: {{T: ms(42.5), Kind: "agent_dead", Agent: "h03", Detail: "no heartbeat for 3s"},
			{T: ms(42.6), Kind: "replan", PlanID: 2, Q: 600, At: fixtureT0 + 44, Detail: "agent h03 dead: 2000 users"}},
		44: {{T: ms(44.2), Kind: "agent_back", Agent: "h03", Detail: "heartbeat resumed"}},
		48: {{T: ms(48.5), Kind: "qps", Q: 0, At: fixtureT0 + 50, PlanID: 2}},
		55: {{T: ms(55.0), Kind: "disconnect", PlanID: 2}},
	}
	for i := range 60 {
		target, sent := fixtureSent(i)
		recv := sent
		if i == 40 {
			recv = 560
		}
		s := runrecord.TimelineSecond{T: fixtureT0 + int64(i), Target: target}
		s.Sent, s.Received = sent, recv
		if i >= 13 && i < 33 {
			s.Got, s.GrantAmount = 20, 2000
		}
		s.None = recv - s.Got
		if i >= 35 && i < 45 {
			s.OpenSent, s.OpenAnswered, s.OpenAmount = 30, 30, 1000
		}
		if i < 50 {
			srv := fixtureServer(i)
			s.ServerReceived = &srv
		}
		s.Connections = api.Connections{Target: 3000, Established: min(3000, 300*(i+1))}
		if i >= 55 {
			s.Connections.Established = max(0, 3000-1000*(i-54))
			s.Connections.Closed = int64(3000 - s.Connections.Established)
		}
		if recv > 0 {
			s.Shake = api.Percentiles{Count: recv, P50: 1.2 + 0.01*float64(i), P90: 2.5, P99: 4, P999: 8, Max: 12}
			if i == 40 {
				s.Shake.P99, s.Shake.P999, s.Shake.Max = 40, 80, 95
			}
			s.Lateness = api.Percentiles{Count: sent, P50: 0.05, P90: 0.1, P99: 0.3, P999: 0.6, Max: 1}
			s.Agents = map[string]runrecord.AgentSecond{}
			for k, h := range []string{"h01", "h02", "h03"} {
				part := sent / 3
				if k == 0 {
					part += sent % 3
				}
				s.Agents[h] = runrecord.AgentSecond{Sent: part, Received: part, P99: s.Shake.P99}
			}
		}
		line(s)
		for _, e := range events[i] {
			line(e)
		}
	}
	return buf.Bytes()
}

// fixtureNIC is host k's (0-based) packets per second over the second
// ending at i: an idle floor of 100*(k+1), plus one packet each way per
// SHAKE the host's agent sent in second i-1.
func fixtureNIC(k, i int) (rx, tx int64) {
	_, sent := fixtureSent(i - 1)
	return int64(100*(k+1)) + sent/3, int64(100*(k+1)) + sent/3 + 10
}

func fixtureMetrics() []byte {
	var buf []byte
	write := func(p telemetry.Point) {
		var err error
		buf, err = telemetry.AppendLineProtocol(buf, &p)
		if err != nil {
			panic(err)
		}
	}
	hosts := []string{"h01", "h02", "h03"}
	var rx, tx [3]int64
	for i := 0; i < 61; i++ {
		// Samples are taken 0.5 s into each second.
		t := time.Unix(fixtureT0+int64(i), 5e8)
		for k, h := range hosts {
			if i > 0 {
				r, x := fixtureNIC(k, i)
				rx[k] += r
				tx[k] += x
			}
			if k == 2 && i == 45 {
				// h03's agent restarted in a new namespace: its counters start over.
				rx[k], tx[k] = 7, 7
			}
			write(telemetry.NewPoint(telemetry.MeasNet, telemetry.Tags("host", h, "interface", "eth0"), []telemetry.Field{
				telemetry.Int("bytes_sent", tx[k]*60), telemetry.Int("bytes_recv", rx[k]*60),
				telemetry.Int("packets_sent", tx[k]), telemetry.Int("packets_recv", rx[k]),
				telemetry.Int("err_in", 0), telemetry.Int("err_out", 0), telemetry.Int("drop_in", 0), telemetry.Int("drop_out", 0),
			}, t))
			write(telemetry.NewPoint(telemetry.MeasCPU, telemetry.Tags("host", h, "cpu", "cpu-total"), []telemetry.Field{
				telemetry.Float("usage_user", 10+float64(k)), telemetry.Float("usage_system", 5),
			}, t))
		}
		if i < 60 {
			_, sent := fixtureSent(i)
			write(telemetry.NewPoint(telemetry.MeasRequests, telemetry.Tags("role", "server", "host", "s01", "cmd", "shake"),
				[]telemetry.Field{telemetry.Int("received", sent)}, time.Unix(fixtureT0+int64(i), 0)))
		}
	}
	return buf
}

func fixtureVerify() []byte {
	amt := func(n, c int) map[string]int { return map[string]int{"count": n, "cents": c} }
	doc := map[string]any{
		"verdict": "reconciled",
		"totals": map[string]any{
			"server": map[string]any{
				"issued": amt(400, 40000), "granted": amt(400, 40000), "in_pools": amt(0, 0),
				"sent": amt(100, 10000), "notified": 300, "opened": amt(300, 10000),
			},
			"client": map[string]any{"received": amt(400, 40000), "notified": 300, "opened": amt(300, 10000)},
		},
		"discrepancies":      []any{},
		"discrepancy_counts": map[string]int{},
		"truncated":          0,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// TestFixtureUpToDate keeps testdata/run equal to the generator above; run
// with -update after changing it.
func TestFixtureUpToDate(t *testing.T) {
	files := map[string][]byte{
		runrecord.TimelineFile: fixtureTimeline(),
		telemetry.MetricsFile:  fixtureMetrics(),
		VerifyFile:             fixtureVerify(),
	}
	for name, want := range files {
		path := filepath.Join(fixtureDir, name)
		if *update {
			if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator: run go test -run TestFixtureUpToDate -update", path)
		}
	}
}
