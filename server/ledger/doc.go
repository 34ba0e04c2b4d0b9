// Package ledger is the envelope journal both sides keep and the record
// types the checks reconcile: append-only JSON lines, one event a line,
// made durable by group commit before the other side may see the event.
//
// It is a contract shared by the server, the agents and the checks, so it
// imports nothing else of hbctl.
package ledger
