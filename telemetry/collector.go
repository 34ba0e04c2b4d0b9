package telemetry

import "time"

// Collector samples one aspect of the host, node_exporter style: each is a
// small unit registered with a Sampler. Points come back without the host
// tag; the Sampler adds it.
type Collector interface {
	Collect(now time.Time) ([]Point, error)
}

// DefaultCollectors are the host collectors every hbctl process runs: NIC
// counters of every interface, total CPU usage, and memory.
func DefaultCollectors() []Collector {
	return []Collector{&NetCollector{}, &CPUCollector{}, MemCollector{}}
}
