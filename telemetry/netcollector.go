package telemetry

import (
	"fmt"
	"slices"
	"time"

	"github.com/shirou/gopsutil/v3/net"
)

// NetCollector reports the cumulative counters of each network interface in
// Telegraf's net schema: measurement net, tag interface, fields bytes_sent,
// bytes_recv, packets_sent, packets_recv, err_in, err_out, drop_in,
// drop_out (int64). Counters come from the network namespace of the
// process, so an agent in its own namespace reports its own interfaces.
type NetCollector struct {
	// Interfaces limits the report to these names; empty means all.
	Interfaces []string
}

var _ Collector = (*NetCollector)(nil)

// Collect reads the interface counters.
func (c *NetCollector) Collect(now time.Time) ([]Point, error) {
	stats, err := net.IOCounters(true)
	if err != nil {
		return nil, fmt.Errorf("net counters: %w", err)
	}
	ps := make([]Point, 0, len(stats))
	for _, s := range stats {
		if len(c.Interfaces) > 0 && !slices.Contains(c.Interfaces, s.Name) {
			continue
		}
		ps = append(ps, Point{
			Measurement: MeasNet,
			Tags:        []Tag{{"interface", s.Name}},
			Fields: []Field{
				Uint("bytes_sent", s.BytesSent),
				Uint("bytes_recv", s.BytesRecv),
				Uint("packets_sent", s.PacketsSent),
				Uint("packets_recv", s.PacketsRecv),
				Uint("err_in", s.Errin),
				Uint("err_out", s.Errout),
				Uint("drop_in", s.Dropin),
				Uint("drop_out", s.Dropout),
			},
			Time: now,
		})
	}
	return ps, nil
}
