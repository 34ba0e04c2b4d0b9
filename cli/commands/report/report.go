// Package report is `hbctl report`: the self-contained HTML report of a
// run, built from the coordinator's data dir by coordinator/report. It
// reads files only and never speaks to the coordinator.
package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/report"
)

// DefaultOut is the file written unless --out says otherwise.
const DefaultOut = "report.html"

// Command returns `hbctl report`.
func Command() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "data-dir", EnvVars: []string{"HBCTL_REPORT_DATA_DIR"},
			Usage: "coordinator data `DIR` holding timeline.jsonl (default: --coordinator-data-dir)"},
		&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: DefaultOut, EnvVars: []string{"HBCTL_REPORT_OUT"},
			Usage: "write the report to `FILE`"},
	}
	for _, f := range common.Flags() {
		if f.Names()[0] == common.FlagDataDir {
			flags = append(flags, f)
		}
	}
	return &ucli.Command{
		Name:  "report",
		Usage: "write the run's self-contained HTML report",
		Description: "Reads timeline.jsonl, metrics.lp and verify.json from the coordinator's data\n" +
			"dir and writes one HTML file with inline SVG charts (QPS vs target with the\n" +
			"phases marked, envelopes, SHAKE latency percentiles, connections, NIC packets\n" +
			"per host) and a summary of targets vs achieved, latency, envelopes and cents,\n" +
			"and the last verify verdict. The file needs nothing else to be viewed.",
		Flags: flags,
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return common.Usage("report takes no arguments, got %q", c.Args().Slice())
			}
			dir := c.String("data-dir")
			if dir == "" {
				dir = c.String(common.FlagDataDir)
			}
			// Every failure here is about files, not the coordinator's
			// network: one exit code for all of them.
			if err := run(dir, c.String("out"), c.App.Writer); err != nil {
				return ucli.Exit(err.Error(), common.ExitFailure)
			}
			return nil
		},
	}
}

// run builds the report and writes it atomically: a reader of the output
// path sees the previous report or the new one, never a part.
func run(dataDir, out string, w io.Writer) error {
	r, err := report.Build(dataDir)
	if err != nil {
		return err
	}
	n, err := writeAtomic(out, r.WriteHTML)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (%d bytes)\n", out, n)
	return nil
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeAtomic writes path through a temporary file in the same directory,
// synced and renamed over it.
func writeAtomic(path string, write func(io.Writer) error) (n int64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("write report: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	cw := &countingWriter{w: bw}
	if err := write(cw); err != nil {
		return 0, err
	}
	if err := errors.Join(bw.Flush(), tmp.Chmod(0o644), tmp.Sync()); err != nil {
		return 0, fmt.Errorf("write report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("write report %s: %w", path, err)
	}
	return cw.n, nil
}
