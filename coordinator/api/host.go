package api

// HostMetrics is an agent's host sampling (NIC, CPU and memory of the
// agent's own host or network namespace) carried by a heartbeat: line
// protocol, one point a line, nanosecond timestamps. The coordinator
// accepts only the net, cpu and mem measurements, sets the host tag to the
// agent's name and hands the points to its telemetry sink.
type HostMetrics struct {
	Lines string `json:"lines"`
	// Dropped counts points the agent could not carry (its buffer between
	// two heartbeats is bounded).
	Dropped int64 `json:"dropped,omitempty"`
}

// MaxHostPoints bounds the host points one heartbeat carries; the
// coordinator refuses the rest.
const MaxHostPoints = 2048

// TelemetryStatus is what the coordinator's telemetry sinks did, for
// `hbctl status`: a dead InfluxDB shows here as dropped points and errors
// while the load goes on.
type TelemetryStatus struct {
	Sinks []SinkStatus `json:"sinks"`
	// HostPoints counts host points accepted from agents' heartbeats;
	// HostRefused those refused (unknown measurement, unreadable line, over
	// MaxHostPoints, dropped by the agent).
	HostPoints  int64 `json:"host_points"`
	HostRefused int64 `json:"host_refused"`
	// RunHistogramsError is the last failure to write run-histograms.json.
	RunHistogramsError string `json:"run_histograms_error,omitempty"`
}

// SinkStatus is one sink's counters.
type SinkStatus struct {
	Name      string `json:"name"`             // file, influx
	Target    string `json:"target,omitempty"` // file path or InfluxDB URL
	Written   int64  `json:"written"`
	Dropped   int64  `json:"dropped"`
	Errors    int64  `json:"errors"`
	LastError string `json:"last_error,omitempty"`
}
