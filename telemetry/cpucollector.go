package telemetry

import (
	"fmt"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
)

// CPUCollector reports total CPU usage over the interval since its previous
// call in Telegraf's cpu schema: tag cpu=cpu-total, fields usage_user,
// usage_system, usage_idle, usage_nice, usage_iowait, usage_irq,
// usage_softirq, usage_steal, usage_guest, usage_guest_nice (float percent).
// Like Telegraf, the first call only takes the baseline and returns nothing.
type CPUCollector struct {
	mu   sync.Mutex
	last *cpu.TimesStat // mu guards last
}

var _ Collector = (*CPUCollector)(nil)

// Collect reads the CPU times and returns the usage since the last call.
func (c *CPUCollector) Collect(now time.Time) ([]Point, error) {
	times, err := cpu.Times(false)
	if err != nil {
		return nil, fmt.Errorf("cpu times: %w", err)
	}
	if len(times) == 0 {
		return nil, fmt.Errorf("cpu times: none reported")
	}
	cur := times[0]
	c.mu.Lock()
	last := c.last
	c.last = &cur
	c.mu.Unlock()
	if last == nil {
		return nil, nil
	}
	total := cpuTotal(&cur) - cpuTotal(last)
	if total <= 0 {
		return nil, nil
	}
	// Clamped: float sums can land a hair past 100, and Linux's iowait
	// counter may step backwards between reads.
	pct := func(d float64) float64 { return min(100, max(0, 100*d/total)) }
	return []Point{{
		Measurement: MeasCPU,
		Tags:        []Tag{{"cpu", "cpu-total"}},
		Fields: []Field{
			// user and nice include guest time on Linux; Telegraf subtracts it.
			Float("usage_user", pct(cur.User-last.User-(cur.Guest-last.Guest))),
			Float("usage_system", pct(cur.System-last.System)),
			Float("usage_idle", pct(cur.Idle-last.Idle)),
			Float("usage_nice", pct(cur.Nice-last.Nice-(cur.GuestNice-last.GuestNice))),
			Float("usage_iowait", pct(cur.Iowait-last.Iowait)),
			Float("usage_irq", pct(cur.Irq-last.Irq)),
			Float("usage_softirq", pct(cur.Softirq-last.Softirq)),
			Float("usage_steal", pct(cur.Steal-last.Steal)),
			Float("usage_guest", pct(cur.Guest-last.Guest)),
			Float("usage_guest_nice", pct(cur.GuestNice-last.GuestNice)),
		},
		Time: now,
	}}, nil
}

// cpuTotal is Telegraf's total: guest time is already inside user and nice.
func cpuTotal(t *cpu.TimesStat) float64 {
	return t.User + t.System + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal + t.Idle
}
