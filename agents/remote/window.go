package remote

import (
	"github.com/hbctl/hbctl/agents"
	"github.com/hbctl/hbctl/coordinator/api"
)

// toAPI converts an engine window to the coordinator's wire form.
func toAPI(w *agents.Window) api.Window {
	c := &w.Counts
	return api.Window{
		T:               w.Second,
		Fires:           int64(c.Fires),
		Sent:            int64(c.Sent),
		Received:        int64(c.Got + c.None + c.Empty + c.Overloaded),
		Got:             int64(c.Got),
		None:            int64(c.None + c.Empty),
		Overloaded:      int64(c.Overloaded),
		Anomalies:       int64(c.Anomalies),
		Missed:          int64(c.Missed),
		Skipped:         int64(c.Skipped),
		Unanswered:      int64(c.Unanswered),
		Lost:            int64(c.Lost),
		OpenSent:        int64(c.OpenSent),
		OpenAnswered:    int64(c.OpenAnswered),
		GrantAmount:     int64(c.GrantAmount),
		OpenAmount:      int64(c.OpenAmount),
		Notified:        int64(c.Notified),
		ConnEstablished: int64(c.ConnEstablished),
		ConnFailed:      int64(c.ConnFailed),
		ConnClosed:      int64(c.ConnClosed),
		Conns:           int64(w.Established),
		ShakeLatency:    api.HistOf(w.ShakeLatency),
		OpenLatency:     api.HistOf(w.OpenLatency),
		Lateness:        api.HistOf(w.Lateness),
	}
}
