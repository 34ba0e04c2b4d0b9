package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
)

// Exit codes of verify ledger; 3 and 4 are common's.
const (
	ExitReconciled    = 0
	ExitDiscrepancies = 1
	ExitIncomplete    = 2
)

// ShownInFull is how many discrepancies are printed in full; the rest are
// counted by kind.
const ShownInFull = 50

// Command returns `hbctl verify`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "verify",
		Usage: "verify the run",
		Subcommands: []*ucli.Command{{
			Name:  "ledger",
			Usage: "quiesce, collect every ledger and reconcile envelopes, cents and requests",
			Description: "Sets the rate to 0 (and refuses connect, qps set, shake and send meanwhile),\n" +
				"waits up to --grace for running releases and in-flight requests, collects the\n" +
				"agents' ledgers through the coordinator and the servers' through their admin\n" +
				"APIs, reconciles them and restores the rate (unless --stay-quiet).\n\n" +
				"Exit 0: everything reconciles. 1: discrepancies. 2: could not verify (a\n" +
				"ledger missing or unreadable, a server without admin API unless\n" +
				"--allow-partial). 3: token refused. 4: coordinator unreachable.",
			Flags: append(common.Flags(),
				common.JSONFlag(),
				&ucli.StringFlag{Name: "json-out", EnvVars: []string{"HBCTL_VERIFY_JSON_OUT"}, Usage: "also write the whole result as JSON to `FILE` (- for stdout, instead of the text)"},
				&ucli.DurationFlag{Name: "grace", Value: 5 * time.Second, EnvVars: []string{"HBCTL_GRACE"},
					Usage: "wait at most `D` for in-flight requests and running releases"},
				&ucli.DurationFlag{Name: "upload-timeout", Value: 60 * time.Second, EnvVars: []string{"HBCTL_UPLOAD_TIMEOUT"},
					Usage: "an agent that does not upload its ledger within `D` (from the start, or from the last upload that arrived) makes the verification fail (exit 2)"},
				&ucli.BoolFlag{Name: "allow-partial", EnvVars: []string{"HBCTL_ALLOW_PARTIAL"},
					Usage: "servers without an admin API are checked from the clients' ledgers only, without failing"},
				&ucli.BoolFlag{Name: "save-input", EnvVars: []string{"HBCTL_SAVE_INPUT"},
					Usage: "keep the ledgers as reconciled in the coordinator's data dir (verify-input.json)"},
				&ucli.BoolFlag{Name: "stay-quiet", EnvVars: []string{"HBCTL_STAY_QUIET"}, Usage: "leave the rate at 0 afterwards"},
				&ucli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, EnvVars: []string{"HBCTL_VERIFY_TIMEOUT"}, Usage: "give up after `D`"},
				&ucli.StringFlag{Name: "input", EnvVars: []string{"HBCTL_VERIFY_INPUT"},
					Usage: "re-check the ledgers saved by --save-input in `FILE` (verify-input.json), offline: no coordinator, no process running"},
			),
			Action: func(c *ucli.Context) error {
				if c.Duration("grace") < 0 || c.Duration("upload-timeout") < 0 {
					return common.Usage("--grace and --upload-timeout must not be negative")
				}
				if path := c.String("input"); path != "" {
					if c.Bool("save-input") || c.Bool("stay-quiet") {
						return common.Usage("--input re-checks saved ledgers offline: --save-input and --stay-quiet do not apply")
					}
					return offline(path, c.Bool("allow-partial"), c.String("json"), c.App.Writer)
				}
				cl, err := common.Client(c)
				if err != nil {
					return err
				}
				req := api.VerifyRequest{
					GraceMillis:  max(1, c.Duration("grace").Milliseconds()),
					UploadMillis: c.Duration("upload-timeout").Milliseconds(),
					AllowPartial: c.Bool("allow-partial"),
					StayQuiet:    c.Bool("stay-quiet"),
					SaveInput:    c.Bool("save-input"),
				}
				ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
				defer cancel()
				out := c.String("json-out")
				if c.Bool(common.FlagJSON) {
					if out != "" && out != "-" {
						return common.Usage("--json prints the result on stdout; give --json-out FILE or --json, not both")
					}
					out = "-"
				}
				return run(ctx, cl, req, out, c.App.Writer)
			},
		}},
	}
}

func run(ctx context.Context, cl *client.Client, req api.VerifyRequest, jsonPath string, w io.Writer) error {
	resp, err := cl.Verify(ctx, req)
	if err != nil {
		var ae *client.APIError
		if errors.As(err, &ae) && !errors.Is(err, client.ErrUnauthorized) {
			// Refused (nothing connected, a verification already running):
			// nothing was verified.
			return ucli.Exit(err.Error(), ExitIncomplete)
		}
		return common.Exit(err)
	}
	if jsonPath != "" {
		if err := writeJSON(jsonPath, resp, w); err != nil {
			return ucli.Exit(err.Error(), ExitIncomplete)
		}
	}
	if jsonPath != "-" {
		Render(w, resp)
	}
	if resp.ExitCode != 0 {
		return ucli.Exit(fmt.Sprintf("ledgers %s (exit %d)", outcome(resp), resp.ExitCode), resp.ExitCode)
	}
	return nil
}

// offline re-checks the ledgers of a verify-input.json, as the
// coordinator reconciled them, with no process running.
func offline(path string, allowPartial bool, jsonPath string, w io.Writer) error {
	in, err := readInput(path)
	if err != nil {
		return ucli.Exit(err.Error(), ExitIncomplete)
	}
	began := time.Now()
	rep, err := checks.Verify(in)
	if err != nil {
		return ucli.Exit(fmt.Sprintf("%s: the ledgers cannot be reconciled: %v", path, err), ExitIncomplete)
	}
	resp := &api.VerifyResponse{Report: rep, Problems: []string{}, DurationMillis: time.Since(began).Milliseconds(),
		ExitCode: exitCode(rep, allowPartial)}
	for _, s := range in.Servers {
		resp.Servers = append(resp.Servers, api.LedgerSource{Name: s.Name, Records: len(s.Records), Users: len(s.Users)})
	}
	for _, a := range in.Agents {
		resp.Agents = append(resp.Agents, api.LedgerSource{Name: a.Name, Records: len(a.Records), Users: len(a.Users)})
	}
	if jsonPath != "" {
		if err := writeJSON(jsonPath, resp, w); err != nil {
			return ucli.Exit(err.Error(), ExitIncomplete)
		}
	}
	if jsonPath != "-" {
		fmt.Fprintf(w, "offline: %s, %d servers and %d agents as saved\n\n", path, len(in.Servers), len(in.Agents))
		Render(w, resp)
	}
	if resp.ExitCode != 0 {
		return ucli.Exit(fmt.Sprintf("ledgers %s (exit %d)", outcome(resp), resp.ExitCode), resp.ExitCode)
	}
	return nil
}

// readInput reads a checks.Input saved by --save-input.
func readInput(path string) (*checks.Input, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read saved ledgers: %w", err)
	}
	var in checks.Input
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s is not ledgers saved by --save-input: %w", path, err)
	}
	if len(in.Servers) == 0 {
		return nil, fmt.Errorf("%s holds no server: not ledgers saved by --save-input", path)
	}
	return &in, nil
}

// exitCode is the coordinator's rule: the verdict's code, except that
// with allowPartial checks skipped only for servers without an admin API
// do not fail.
func exitCode(rep *checks.Report, allowPartial bool) int {
	if rep.Verdict != checks.VerdictIncomplete || !allowPartial {
		return rep.Verdict.ExitCode()
	}
	clientOnly := map[string]bool{}
	for _, s := range rep.Servers {
		clientOnly[s.Name] = s.ClientOnly
	}
	for _, sk := range rep.Skipped {
		if !clientOnly[sk.Server] {
			return ExitIncomplete
		}
	}
	return ExitReconciled
}

func writeJSON(path string, resp *api.VerifyResponse, stdout io.Writer) error {
	b, err := json.MarshalIndent(resp, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
