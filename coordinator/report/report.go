package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/telemetry"
)

// Report is everything the HTML report shows, gathered from a data dir.
type Report struct {
	DataDir string
	Seconds []runrecord.TimelineSecond // complete seconds, in time order
	Events  []api.Event                // phase changes, in time order
	// NIC is each host's packet rates from metrics.lp, hosts sorted by name.
	NIC []HostPackets
	// ServerReceived is SHAKEs per second as the servers counted them, by
	// Unix second: the timeline's server_received, or where a second has
	// none, the servers' own hb_requests role=server points in metrics.lp;
	// nil when neither is known.
	ServerReceived map[int64]int64
	Verify         *Verify // nil: not verified
	Phases         []Phase
	Totals         Totals
	// TP50 ... TP999 bound the run's SHAKE latency percentiles.
	TP50, TP90, TP99, TP999 Bounds
	// Warnings are inputs read only in part, in words.
	Warnings []string
}

// Build reads the coordinator's data dir: timeline.jsonl (required),
// metrics.lp and verify.json (both optional).
func Build(dataDir string) (*Report, error) {
	path := filepath.Join(dataDir, runrecord.TimelineFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (is %s a coordinator's data dir?)", ErrNoTimeline, path, dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	tl, err := readTimeline(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	if len(tl.seconds) == 0 {
		return nil, fmt.Errorf("%w: %s holds no complete second (did any agent report?)", ErrNoTimeline, path)
	}
	r := &Report{DataDir: dataDir, Seconds: tl.seconds, Events: tl.events}
	if tl.bad > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %d unreadable lines skipped", runrecord.TimelineFile, tl.bad))
	}

	mpath := filepath.Join(dataDir, telemetry.MetricsFile)
	switch mf, err := os.Open(mpath); {
	case errors.Is(err, fs.ErrNotExist):
		r.Warnings = append(r.Warnings, fmt.Sprintf("no %s: NIC rates not shown", telemetry.MetricsFile))
	case err != nil:
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %v", telemetry.MetricsFile, err))
	default:
		m := readMetrics(mf)
		mf.Close()
		r.NIC, r.ServerReceived = m.nic, m.serverRecv
		if m.err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s read up to an unreadable line: %v", telemetry.MetricsFile, m.err))
		}
	}

	switch b, err := os.ReadFile(filepath.Join(dataDir, VerifyFile)); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %v", VerifyFile, err))
	default:
		v, err := parseVerify(b)
		if err != nil {
			r.Warnings = append(r.Warnings, err.Error())
		}
		r.Verify = v
	}

	r.ServerReceived = mergeServer(r.Seconds, r.ServerReceived)
	r.Phases = phases(r.Seconds, r.ServerReceived)
	r.Totals = totals(r.Seconds)
	r.TP50 = runQuantile(r.Seconds, 0.5)
	r.TP90 = runQuantile(r.Seconds, 0.9)
	r.TP99 = runQuantile(r.Seconds, 0.99)
	r.TP999 = runQuantile(r.Seconds, 0.999)
	r.exactPercentiles()
	return r, nil
}

// mergeServer lays the timeline's server counts over those of the metric
// points: the timeline's come from the servers' own per-second counters,
// polled by the coordinator, while points exist only where the servers
// wrote to this data dir's sink.
func mergeServer(secs []runrecord.TimelineSecond, points map[int64]int64) map[int64]int64 {
	out := points
	for i := range secs {
		if v := secs[i].ServerReceived; v != nil {
			if out == nil {
				out = make(map[int64]int64, len(secs))
			}
			out[secs[i].T] = *v
		}
	}
	return out
}

// Start and End are the first second and the end of the last second.
func (r *Report) Start() time.Time { return time.Unix(r.Seconds[0].T, 0) }

// End is the end of the last complete second.
func (r *Report) End() time.Time { return time.Unix(r.Seconds[len(r.Seconds)-1].T+1, 0) }
