package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/server"
)

// benchResult is what a child agent prints on stdout.
type benchResult struct {
	Conns       int       `json:"conns"`
	RSS0        int64     `json:"rss0_kib"`
	RSS1        int64     `json:"rss1_kib"`
	RSSLoaded   int64     `json:"rss_loaded_kib"`
	CPUSeconds  float64   `json:"cpu_s"`
	Sent        uint64    `json:"sent"`
	Missed      uint64    `json:"missed"`
	LatenessP50 int64     `json:"lateness_p50_us"`
	LatenessP99 int64     `json:"lateness_p99_us"`
	LatenessMax int64     `json:"lateness_max_us"`
	LatencyP99  int64     `json:"latency_p99_us"`
	Per100ms    [10]int64 `json:"per_100ms"`
	Mallocs     uint64    `json:"mallocs"`      // heap allocations while firing
	GCs         uint32    `json:"gcs"`          // collections while firing
	CtxSwitches int64     `json:"ctx_switches"` // while firing
}

func rssKiB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// startPerf records the calling process with perf for secs seconds when
// BENCH_PERF names an output file: the kernel side, which is most of a
// SHAKE's cost, and which the Go profiler does not see. stop waits for it.
func startPerf(secs int) (stop func(), err error) {
	path := os.Getenv("BENCH_PERF")
	if path == "" {
		return func() {}, nil
	}
	p := exec.Command("perf", "record", "-g", "-o", path, "-p", strconv.Itoa(os.Getpid()), "--", "sleep", strconv.Itoa(secs))
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("BENCH_PERF: %w", err)
	}
	return func() { p.Wait() }, nil
}

// contextSwitches is the process's voluntary and involuntary context
// switches: each is a loop sleeping in epoll_wait or being preempted.
func contextSwitches() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Nvcsw + ru.Nivcsw
}

// benchChild runs one agent: hold the users, measure RSS, fire the plan
// for a few seconds, measure CPU and lateness, print a benchResult.
func benchChild() int {
	env := func(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }
	users, qps, secs := env("BENCH_USERS"), env("BENCH_QPS"), env("BENCH_SECONDS")
	dir, _ := os.MkdirTemp("", "agent-bench")
	defer os.RemoveAll(dir)
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }

	grid, _ := time.ParseDuration(os.Getenv("BENCH_WAKEGRID"))
	e, err := New(Config{Name: "bench", Servers: []string{os.Getenv("BENCH_SERVER")}, DataDir: dir, WakeGrid: grid, Loops: env("BENCH_LOOPS")})
	if err != nil {
		return fail(err)
	}
	defer e.Close()
	var r benchResult
	runtime.GC()
	debug.FreeOSMemory()
	r.RSS0 = rssKiB()
	if err := e.Connect([]schedule.Range{{Lo: 0, Hi: uint32(users)}}); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for e.Status().Established < users {
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("only %d of %d logged in", e.Status().Established, users))
		}
		time.Sleep(50 * time.Millisecond)
	}
	runtime.GC()
	debug.FreeOSMemory()
	r.RSS1 = rssKiB()
	r.Conns = users

	start := time.Now()
	if t0, ok, err := syncStart(); err != nil {
		return fail(err)
	} else if ok {
		start = t0
	}
	plan, err := schedule.NewPlan(1, []schedule.Range{{Lo: 0, Hi: uint32(users)}}, start, int64(qps))
	if err != nil {
		return fail(err)
	}
	t0 := plan.Segments[0].T
	if _, err := plan.SetRate(0, time.Unix(0, t0+int64(secs)*1e9)); err != nil {
		return fail(err)
	}
	e.SetPlan(plan)
	// Where inside each second the fires fall (intended times, which the
	// lateness below shows the writes follow).
	cur := plan.Cursor([]schedule.Range{{Lo: 0, Hi: uint32(users)}}, t0)
	for f, ok := cur.Next(); ok && f.At < t0+1e9; f, ok = cur.Next() {
		r.Per100ms[(f.At-t0)/1e8]++
	}
	e.TakeWindows()
	for time.Now().UnixNano() < t0 {
		time.Sleep(time.Millisecond)
	}
	// BENCH_CPUPROFILE=path profiles the firing window of the child.
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
	}
	stop, err := startPerf(secs)
	if err != nil {
		return fail(err)
	}
	defer stop()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, cs0 := cpuSeconds(), contextSwitches()
	for time.Now().UnixNano() < t0+int64(secs)*1e9 {
		time.Sleep(10 * time.Millisecond)
		if r.RSSLoaded == 0 && time.Now().UnixNano() > t0+1e9 {
			r.RSSLoaded = rssKiB()
		}
	}
	r.CPUSeconds = cpuSeconds() - cpu0
	r.CtxSwitches = contextSwitches() - cs0
	pprof.StopCPUProfile()
	runtime.ReadMemStats(&ms1)
	r.Mallocs, r.GCs = ms1.Mallocs-ms0.Mallocs, ms1.NumGC-ms0.NumGC
	late, lat := newHist(), newHist()
	deadline = time.Now().Add(10 * time.Second)
	for r.Sent < uint64(qps*secs) && time.Now().Before(deadline) {
		for _, w := range e.TakeWindows() {
			r.Sent += w.Sent
			r.Missed += w.Missed
			late.Merge(hdrhistogram.Import(w.Lateness))
			lat.Merge(hdrhistogram.Import(w.ShakeLatency))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.LatenessP50, r.LatenessP99, r.LatenessMax = late.ValueAtQuantile(50), late.ValueAtQuantile(99), late.Max()
	r.LatencyP99 = lat.ValueAtQuantile(99)
	json.NewEncoder(os.Stdout).Encode(&r)
	return 0
}

// BenchmarkAgent runs an agent as a child process (this test binary
// re-executed) against an in-process reference server: RSS per held
// connection, CPU-seconds per 10,000 SHAKEs, and fire lateness. One run
// measures everything; use -benchtime=1x.
func BenchmarkAgent(b *testing.B) {
	for _, tc := range []struct {
		conns, qps, secs int
		grid             time.Duration // Config.WakeGrid
		loops            int           // Config.Loops; 0: GOMAXPROCS
	}{
		{15000, 10000, 5, DefaultWakeGrid, 0},
		{15000, 10000, 5, 250 * time.Microsecond, 0},
		{15000, 10000, 5, -1, 0}, // a wake-up at each fire's intended time
		{15000, 10000, 5, DefaultWakeGrid, 1},
		{15000, 10000, 5, time.Second, 0}, // one burst a second, as the classic client fired
	} {
		name := fmt.Sprintf("conns=%d/qps=%d/wakegrid=%v", tc.conns, tc.qps, max(tc.grid, 0))
		if tc.loops > 0 {
			name += fmt.Sprintf("/loops=%d", tc.loops)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			srv, addr := startServer(b, b.TempDir(), "127.0.0.1:0", server.Config{Sets: 16})
			defer srv.Close()
			var r benchResult
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"=1", "BENCH_SERVER="+addr,
					fmt.Sprintf("BENCH_USERS=%d", tc.conns), fmt.Sprintf("BENCH_QPS=%d", tc.qps),
					fmt.Sprintf("BENCH_SECONDS=%d", tc.secs), "BENCH_WAKEGRID="+tc.grid.String(), fmt.Sprintf("BENCH_LOOPS=%d", tc.loops))
				var out bytes.Buffer
				cmd.Stdout = &out
				cmd.Stderr = os.Stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("child agent: %v", err)
				}
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					b.Fatalf("child output %q: %v", out.String(), err)
				}
			}
			perConn := float64(r.RSS1-r.RSS0) * 1024 / float64(r.Conns)
			b.ReportMetric(perConn, "rss-B/conn")
			b.ReportMetric(float64(r.RSSLoaded-r.RSS0)*1024/float64(r.Conns), "rss-loaded-B/conn")
			b.ReportMetric(r.CPUSeconds/(float64(r.Sent)/10000), "cpu-s/10k-shakes")
			b.ReportMetric(float64(r.LatenessP50), "lateness-p50-µs")
			b.ReportMetric(float64(r.LatenessP99), "lateness-p99-µs")
			b.ReportMetric(float64(r.LatenessMax), "lateness-max-µs")
			b.ReportMetric(float64(r.LatencyP99), "latency-p99-µs")
			b.ReportMetric(float64(r.Sent), "shakes")
			b.ReportMetric(float64(r.Mallocs)/float64(max(r.Sent, 1)), "child-allocs/shake")
			b.ReportMetric(float64(r.CtxSwitches)/float64(max(r.Sent, 1)), "ctxsw/shake")
			b.Logf("rss %d KiB idle -> %d KiB with %d conns (%d KiB while firing); sent %d missed %d; cpu %.2fs; child mallocs %d, GCs %d, context switches %d; fires per 100 ms of a second: %v",
				r.RSS0, r.RSS1, r.Conns, r.RSSLoaded, r.Sent, r.Missed, r.CPUSeconds, r.Mallocs, r.GCs, r.CtxSwitches, r.Per100ms)
		})
	}
}
