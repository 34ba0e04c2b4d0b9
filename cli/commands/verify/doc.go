// Package verify is `hbctl verify ledger`: it asks the coordinator to
// quiesce the run, collect every server's and agent's ledger and reconcile
// them, prints the totals, the discrepancies and the verdict, and exits 0
// (reconciled), 1 (discrepancies) or 2 (could not verify). The work is the
// coordinator's (POST /v1/verify); this package only parses flags and
// renders. With --input it re-checks ledgers saved by --save-input itself,
// offline, with checks.Verify. It imports coordinator/client,
// coordinator/api, checks and cli/commands/common, nothing else of hbctl.
package verify
