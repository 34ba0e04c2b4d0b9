package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// loopbackTraffic pushes n bytes through a TCP connection on 127.0.0.1.
func loopbackTraffic(t *testing.T, n int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		m, _ := io.Copy(io.Discard, c)
		got <- m
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(c, zeroReader{}, n); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if m := <-got; m != n {
		t.Fatalf("sent %d bytes over loopback, %d arrived", n, m)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func netByIface(t *testing.T, c *NetCollector) map[string]Point {
	t.Helper()
	ps, err := c.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Point{}
	for _, p := range ps {
		iface, ok := p.Tag("interface")
		if !ok || p.Measurement != MeasNet {
			t.Fatalf("bad point %+v", p)
		}
		m[iface] = p
	}
	return m
}

var netFields = []string{"bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out", "drop_in", "drop_out"}

func TestNetCollector(t *testing.T) {
	c := &NetCollector{}
	before := netByIface(t, c)
	lo, ok := before["lo"]
	if !ok {
		t.Fatalf("no lo among %d interfaces", len(before))
	}
	loopbackTraffic(t, 1<<20)
	after := netByIface(t, c)
	for iface, p0 := range before {
		p1, ok := after[iface]
		if !ok {
			continue // an interface can vanish between samples
		}
		for _, k := range netFields {
			v0, ok0 := p0.Field(k)
			v1, ok1 := p1.Field(k)
			if !ok0 || !ok1 || v0.Kind() != KindInt || v1.Kind() != KindInt {
				t.Fatalf("%s %s: want int64 fields, got %v %v", iface, k, v0, v1)
			}
			if v1.Int() < v0.Int() {
				t.Errorf("%s %s went down: %d -> %d (counters are cumulative)", iface, k, v0.Int(), v1.Int())
			}
		}
	}
	b0, _ := lo.Field("bytes_recv")
	b1, _ := after["lo"].Field("bytes_recv")
	if b1.Int()-b0.Int() < 1<<20 {
		t.Errorf("lo bytes_recv grew by %d, want at least 1 MiB", b1.Int()-b0.Int())
	}

	only := netByIface(t, &NetCollector{Interfaces: []string{"lo"}})
	if len(only) != 1 || only["lo"].Measurement == "" {
		t.Fatalf("filter: %v", only)
	}
}

func TestCPUCollector(t *testing.T) {
	c := &CPUCollector{}
	ps, err := c.Collect(time.Now())
	if err != nil || len(ps) != 0 {
		t.Fatalf("first call takes the baseline only: %v %v", ps, err)
	}
	// Burn a little CPU so the interval has ticks to measure.
	var p []Point
	eventually(t, 10*time.Second, "a CPU sample", func() bool {
		x := 0
		for i := range 5_000_000 {
			x += i
		}
		_ = x
		p, err = c.Collect(time.Now())
		return err == nil && len(p) == 1
	})
	if cpu, _ := p[0].Tag("cpu"); p[0].Measurement != MeasCPU || cpu != "cpu-total" {
		t.Fatalf("%+v", p[0])
	}
	var sum float64
	for _, k := range []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal"} {
		v, ok := p[0].Field(k)
		if !ok || v.Kind() != KindFloat || v.Float() < 0 || v.Float() > 100 {
			t.Fatalf("%s = %v", k, v)
		}
		sum += v.Float()
	}
	if sum < 99.9 || sum > 100.1 {
		t.Fatalf("usage fields sum to %v, want 100", sum)
	}
}

func TestMemCollector(t *testing.T) {
	ps, err := MemCollector{}.Collect(time.Now())
	if err != nil || len(ps) != 1 || ps[0].Measurement != MeasMem {
		t.Fatalf("%v %v", ps, err)
	}
	total, _ := ps[0].Field("total")
	avail, _ := ps[0].Field("available")
	pct, _ := ps[0].Field("used_percent")
	if total.Kind() != KindInt || total.Int() <= 0 || avail.Int() <= 0 || avail.Int() > total.Int() {
		t.Fatalf("total %v available %v", total, avail)
	}
	if pct.Kind() != KindFloat || pct.Float() <= 0 || pct.Float() >= 100 {
		t.Fatalf("used_percent %v", pct)
	}
}

type failing struct{}

func (failing) Collect(time.Time) ([]Point, error) { return nil, errors.New("boom") }

func TestSampler(t *testing.T) {
	var mu sync.Mutex
	var got [][]Point
	s := NewSampler(func(ps ...Point) {
		mu.Lock()
		got = append(got, ps)
		mu.Unlock()
	}, WithHost("h07"), WithInterval(20*time.Millisecond), WithSamplerLogger(slog.New(slog.DiscardHandler)),
		WithCollectors(&NetCollector{Interfaces: []string{"lo"}}, MemCollector{}, failing{}))
	if s.Host() != "h07" {
		t.Fatal(s.Host())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	eventually(t, 10*time.Second, "three sampling rounds", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, round := range got {
		// One failing collector does not hide the others.
		if len(round) != 2 {
			t.Fatalf("round %d: %d points", i, len(round))
		}
		for _, p := range round {
			if h, _ := p.Tag("host"); h != "h07" {
				t.Fatalf("round %d: %+v lacks host=h07", i, p)
			}
		}
		// Rounds after the first sit on the interval grid.
		if i > 0 && round[0].Time.Truncate(20*time.Millisecond) != round[0].Time {
			t.Errorf("round %d at %v, off the grid", i, round[0].Time)
		}
	}
}

func TestSamplerDefaults(t *testing.T) {
	s := NewSampler(func(...Point) {})
	if s.Host() == "" || len(s.collectors) != 3 || s.interval != DefaultSampleInterval {
		t.Fatalf("%+v", s)
	}
	ps, err := s.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		seen[p.Measurement] = true
	}
	if !seen[MeasNet] || !seen[MeasMem] {
		t.Fatalf("measurements %v", seen)
	}
}
