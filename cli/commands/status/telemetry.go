package status

import (
	"fmt"
	"io"

	"github.com/hbctl/hbctl/coordinator/api"
)

// renderTelemetry writes one line per metric sink; errors and drops are
// what an operator must see (a dead InfluxDB never stops the load, so
// status is where it shows).
func renderTelemetry(w io.Writer, t *api.TelemetryStatus) {
	if t == nil {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "SINK\tTARGET\tWRITTEN\tDROPPED\tERRORS\tLAST ERROR")
	for _, s := range t.Sinks {
		last := s.LastError
		if last == "" {
			last = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\n", s.Name, s.Target, s.Written, s.Dropped, s.Errors, last)
	}
	fmt.Fprintf(w, "host points\t%d accepted, %d refused\n", t.HostPoints, t.HostRefused)
	if t.RunHistogramsError != "" {
		fmt.Fprintf(w, "run histograms\t%s\n", t.RunHistogramsError)
	}
}
