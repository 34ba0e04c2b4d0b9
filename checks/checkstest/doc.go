// Package checkstest builds ledgers for testing package checks: a small
// deterministic simulation of a run (Generate) whose ledgers reconcile,
// and mutations that each inject one fault into any Input, clean or taken
// from a real run, and say which discrepancy Verify must report for it.
//
// It imports only checks and server/ledger.
package checkstest
