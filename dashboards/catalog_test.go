package dashboards

// measurement is one row of the telemetry table (DESIGN.md "Telemetry"):
// what the dashboards may query.
type measurement struct {
	tags   []string
	fields []string
	// cumulative counters must be read through non_negative_derivative.
	cumulative bool
}

// catalog is the measurement table hbctl's telemetry writes. Every field is
// int64 or float64.
var catalog = map[string]measurement{
	"hb_requests": {
		tags:   []string{"role", "host", "cmd"},
		fields: []string{"sent", "received", "got", "none", "overloaded", "missed", "skipped", "unanswered", "lost"},
	},
	"hb_latency": {
		tags:   []string{"host", "cmd"},
		fields: []string{"p50", "p90", "p99", "p999", "max", "count"},
	},
	"hb_envelopes": {
		tags:   []string{"role", "kind"},
		fields: []string{"issued", "granted", "received", "opened", "amount"},
	},
	"hb_connections": {
		tags:   []string{"role", "host"},
		fields: []string{"established", "target", "failed", "closed"},
	},
	"hb_schedule": {
		tags:   []string{"host"},
		fields: []string{"target_qps", "lateness_p99", "clock_offset", "clock_delay"},
	},
	"net": {
		tags:       []string{"host", "interface"},
		fields:     []string{"bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out", "drop_in", "drop_out"},
		cumulative: true,
	},
	"cpu": {
		tags:   []string{"host", "cpu"},
		fields: []string{"usage_user", "usage_system", "usage_idle", "usage_iowait"},
	},
	"mem": {
		tags:   []string{"host"},
		fields: []string{"total", "available", "used", "used_percent"},
	},
}

func (m measurement) hasTag(name string) bool   { return contains(m.tags, name) }
func (m measurement) hasField(name string) bool { return contains(m.fields, name) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
