// Package admin is the reference server's admin HTTP API as its callers
// see it: the request and response types of POST /v1/shake and /v1/send,
// GET /v1/stats, /v1/ledger and /v1/users, its error body, and a typed
// Client that every caller uses (the coordinator's verification and
// per-second polling, the forwarding of shake and send, the scenario
// runner, the tests).
//
// A server of another make that serves the same calls is tested in full
// (docs/protocol.md). The package is a contract shared by the server and
// its callers, so it imports nothing of hbctl but server/ledger.
package admin
