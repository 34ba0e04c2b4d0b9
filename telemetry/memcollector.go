package telemetry

import (
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v3/mem"
)

// MemCollector reports memory in Telegraf's mem schema (bytes as int64,
// used_percent and available_percent as float).
type MemCollector struct{}

var _ Collector = MemCollector{}

// Collect reads the memory figures.
func (MemCollector) Collect(now time.Time) ([]Point, error) {
	m, err := mem.VirtualMemory()
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	var availPct float64
	if m.Total > 0 {
		availPct = 100 * float64(m.Available) / float64(m.Total)
	}
	return []Point{{
		Measurement: MeasMem,
		Fields: []Field{
			Uint("total", m.Total),
			Uint("available", m.Available),
			Uint("used", m.Used),
			Uint("free", m.Free),
			Uint("cached", m.Cached),
			Uint("buffered", m.Buffers),
			Uint("active", m.Active),
			Uint("inactive", m.Inactive),
			Uint("shared", m.Shared),
			Uint("slab", m.Slab),
			Uint("sreclaimable", m.Sreclaimable),
			Uint("sunreclaim", m.Sunreclaim),
			Uint("dirty", m.Dirty),
			Uint("write_back", m.WriteBack),
			Uint("mapped", m.Mapped),
			Uint("page_tables", m.PageTables),
			Uint("commit_limit", m.CommitLimit),
			Uint("committed_as", m.CommittedAS),
			Uint("swap_cached", m.SwapCached),
			Uint("swap_total", m.SwapTotal),
			Uint("swap_free", m.SwapFree),
			Float("used_percent", m.UsedPercent),
			Float("available_percent", availPct),
		},
		Time: now,
	}}, nil
}
