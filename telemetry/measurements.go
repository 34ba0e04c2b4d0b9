package telemetry

// Measurement names. The hb_* ones are hbctl's own; net, cpu and mem follow
// Telegraf's schema so that existing Telegraf dashboards read them.
const (
	MeasRequests    = "hb_requests"    // tags role, host, cmd
	MeasLatency     = "hb_latency"     // tags host ("all" for every agent), cmd
	MeasEnvelopes   = "hb_envelopes"   // tags role, kind
	MeasConnections = "hb_connections" // tags role, host
	MeasSchedule    = "hb_schedule"    // tags host
	MeasNet         = "net"            // tags host, interface
	MeasCPU         = "cpu"            // tags host, cpu
	MeasMem         = "mem"            // tags host
)
