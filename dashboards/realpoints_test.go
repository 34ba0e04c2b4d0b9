package dashboards

import (
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
	"github.com/hbctl/hbctl/telemetry/influxtest"
)

// coordinatorRun is what the coordinator itself writes for a few seconds
// of agents h01 and h02 (coordinator.SecondPoints, the code of a real run),
// this machine's real host samples under the agents' names, and the
// server's role=server lines of the synthetic run (servers write those
// themselves, from their stats). The end-to-end test in coordinator/e2e
// runs the same queries on a run of real processes.
func coordinatorRun(now time.Time) string {
	var b strings.Builder
	add := func(ps ...telemetry.Point) {
		for i := range ps {
			line, err := telemetry.AppendLineProtocol(nil, &ps[i])
			if err != nil {
				panic(err)
			}
			b.Write(line)
		}
	}
	end := now.Unix()
	const seconds = 6
	for i := int64(0); i < seconds; i++ {
		s := end - seconds + i
		shake := api.Percentiles{Count: 1500, P50: 1.2, P90: 2.5, P99: 7.9, P999: 15.1, Max: 31}
		open := api.Percentiles{Count: 30, P50: 1.5, P90: 2.8, P99: 4, P999: 4, Max: 4}
		late := api.Percentiles{Count: 1500, P50: 0.1, P90: 0.2, P99: 0.4, P999: 0.9, Max: 1.1}
		ts := coordinator.TimelineSecond{T: s, Target: 3000,
			Counters: api.Counters{Sent: 3000, Received: 2998, Got: 30, None: 2960, Overloaded: 8, Unanswered: 2,
				OpenSent: 60, OpenAnswered: 60, GrantAmount: 7500, OpenAmount: 6000},
			Shake: shake, Open: open, Lateness: late, Agents: map[string]coordinator.AgentSecond{}}
		for _, h := range []string{"h01", "h02"} {
			ts.Agents[h] = coordinator.AgentSecond{Sent: 1500, Received: 1499, Fires: 1500, Got: 15, None: 1480, Overloaded: 4,
				Unanswered: 1, OpenSent: 30, OpenAnswered: 30, GrantAmount: 3750, OpenAmount: 3000, Notified: 30,
				Shake: &shake, Open: &open, LatenessP99: 0.4, P99: shake.P99,
				Conns: &api.Connections{Target: 60000, Established: 59990, Failed: 1, Closed: i}, OffsetMs: -0.12, DelayMs: 0.3}
		}
		add(coordinator.SecondPoints(ts)...)
	}
	for _, h := range []string{"h01", "h02"} {
		// Rounds until one has CPU usage: the CPU collector needs a
		// baseline and CPU time that moved since (it counts in ticks).
		// Two rounds at least: the hosts dashboard takes derivatives of
		// the NIC counters.
		sampler := telemetry.NewSampler(func(...telemetry.Point) {}, telemetry.WithHost(h))
		deadline := time.Now().Add(10 * time.Second)
		for round, cpu := 0, false; round < 2 || !cpu; round++ {
			if time.Now().After(deadline) {
				panic("no CPU usage sampled in 10 s")
			}
			// Whole seconds apart, as the sampler runs; later rounds
			// replace the last one's points.
			ps, err := sampler.Collect(time.Unix(end-4+int64(min(round, 3)), 0))
			if err != nil && len(ps) == 0 {
				panic(err)
			}
			for _, p := range ps {
				cpu = cpu || p.Measurement == telemetry.MeasCPU
			}
			add(ps...)
			time.Sleep(20 * time.Millisecond) // lets CPU time advance between rounds
		}
	}
	for _, line := range strings.Split(syntheticRun(now), "\n") {
		if strings.Contains(line, "role=server") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestQueriesOnCoordinatorPoints runs every dashboard query on the points
// the coordinator's own code writes, so a change of tags or fields there
// that breaks a panel fails here, without running processes.
func TestQueriesOnCoordinatorPoints(t *testing.T) {
	testQueries(t, influxtest.Start(t), coordinatorRun)
}
