package common

import (
	"fmt"
	"io"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// PrintForward shows a release forwarded to the servers (shake, send),
// server by server.
func PrintForward(w io.Writer, what string, resp api.ForwardResponse, err error, asJSON bool) error {
	if len(resp.Servers) == 0 {
		return err
	}
	if asJSON {
		if perr := PrintJSON(w, resp); perr != nil {
			return perr
		}
		return err
	}
	fmt.Fprintf(w, "%s started %s\n", what, time.UnixMilli(resp.Started).UTC().Format(time.RFC3339Nano))
	for _, s := range resp.Servers {
		state := "ok"
		if s.Error != "" {
			state = "FAILED: " + s.Error
		}
		fmt.Fprintf(w, "  %-32s %6d/s %8d  %s\n", s.Admin, s.Rate, s.Total, state)
	}
	return err
}
