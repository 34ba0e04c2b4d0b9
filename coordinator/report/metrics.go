package report

import (
	"io"
	"sort"

	"github.com/hbctl/hbctl/telemetry"
)

// HostPackets is one host's NIC packet rates, summed over its interfaces.
type HostPackets struct {
	Host string
	// Points are per sampling interval, at the interval's end, in packets
	// per second.
	Points []PacketRate
}

// PacketRate is a host's packet rate over one sampling interval.
type PacketRate struct {
	T      float64 // Unix seconds, end of the interval
	RxPerS float64
	TxPerS float64
}

// metrics is what the report takes from metrics.lp.
type metrics struct {
	nic []HostPackets
	// serverRecv is SHAKEs received per second as the servers count them
	// (hb_requests role=server cmd=shake), by Unix second, when any server
	// wrote them.
	serverRecv map[int64]int64
	err        error // the first unreadable line; points before it are kept
}

// localHost names points that carry no host tag.
const localHost = "local"

// readMetrics reads line protocol and derives packet rates: net counters
// are cumulative, so each rate is the difference of consecutive samples of
// one host and interface over the time between them. A counter that goes
// down (a restarted host, a recreated interface) starts over instead of
// giving a negative rate.
func readMetrics(r io.Reader) metrics {
	ps, err := telemetry.ReadLineProtocol(r)
	m := metrics{err: err}
	type key struct{ host, iface string }
	type sample struct {
		ns     int64
		rx, tx int64
	}
	samples := map[key][]sample{}
	for i := range ps {
		p := &ps[i]
		switch p.Measurement {
		case telemetry.MeasNet:
			if p.Time.IsZero() {
				continue
			}
			rx, ok1 := intField(p, "packets_recv")
			tx, ok2 := intField(p, "packets_sent")
			if !ok1 && !ok2 {
				continue
			}
			host, _ := p.Tag("host")
			if host == "" {
				host = localHost
			}
			iface, _ := p.Tag("interface")
			k := key{host, iface}
			samples[k] = append(samples[k], sample{p.Time.UnixNano(), rx, tx})
		case telemetry.MeasRequests:
			role, _ := p.Tag("role")
			cmd, _ := p.Tag("cmd")
			if role != "server" || cmd != "shake" || p.Time.IsZero() {
				continue
			}
			if v, ok := intField(p, "received"); ok {
				if m.serverRecv == nil {
					m.serverRecv = map[int64]int64{}
				}
				m.serverRecv[p.Time.Unix()] += v
			}
		}
	}
	// Rates per interface, then summed per host on the sample times; hosts
	// sample their interfaces together, so the times coincide.
	perHost := map[string]map[int64]*PacketRate{}
	for k, ss := range samples {
		sort.Slice(ss, func(i, j int) bool { return ss[i].ns < ss[j].ns })
		for i := 1; i < len(ss); i++ {
			a, b := ss[i-1], ss[i]
			dt := float64(b.ns-a.ns) / 1e9
			if dt <= 0 || b.rx < a.rx || b.tx < a.tx {
				continue
			}
			hm := perHost[k.host]
			if hm == nil {
				hm = map[int64]*PacketRate{}
				perHost[k.host] = hm
			}
			pr := hm[b.ns]
			if pr == nil {
				pr = &PacketRate{T: float64(b.ns) / 1e9}
				hm[b.ns] = pr
			}
			pr.RxPerS += float64(b.rx-a.rx) / dt
			pr.TxPerS += float64(b.tx-a.tx) / dt
		}
	}
	for host, hm := range perHost {
		hp := HostPackets{Host: host, Points: make([]PacketRate, 0, len(hm))}
		for _, pr := range hm {
			hp.Points = append(hp.Points, *pr)
		}
		sort.Slice(hp.Points, func(i, j int) bool { return hp.Points[i].T < hp.Points[j].T })
		m.nic = append(m.nic, hp)
	}
	sort.Slice(m.nic, func(i, j int) bool { return m.nic[i].Host < m.nic[j].Host })
	return m
}

func intField(p *telemetry.Point, key string) (int64, bool) {
	v, ok := p.Field(key)
	if !ok {
		return 0, false
	}
	switch v.Kind() {
	case telemetry.KindInt:
		return v.Int(), true
	case telemetry.KindFloat:
		return int64(v.Float()), true
	}
	return 0, false
}
