// Package server is the reference red-envelope server: it holds user
// connections partitioned into SETs by uid, answers SHAKE from per-SET
// envelope pools fed by a rate-paced producer, pushes sent envelopes and
// pays their shares on OPEN, journals every envelope event with group
// commit before the client can see it, and exposes an admin HTTP API.
//
// Connections are non-blocking sockets driven by a few epoll loops
// (loop.go), each the worker of its share of the SETs (set.go), so that
// a request costs one read and one write and no goroutine hand-off. The
// loops park through the runtime's poller (internal/netpoll) and make
// their socket calls raw: under paced load the cost to beat is waking up.
//
// Failures are survived or reported, never hidden (incarnation.go): the
// per-user counters are checkpointed every second and resume after a
// crash from the checkpoint and the journal, each start after a crash is
// recorded with the window the counters missed (restarts.jsonl), a
// release cut short is reported with how many of how many it released,
// ENVELOPE delivery is at least once (every login of a recipient pushes
// again the envelopes it has not opened), and logins and connection losses
// are journaled so that verification tells a reset from a bug.
//
// Peers cannot hold resources forever (deadline.go, accept.go): a
// connection must log in within LoginTimeout and finish a started frame
// within FrameTimeout; at MaxConns a connection that never logged in makes
// room for a new one, and once all have logged in new ones are closed at
// once. A journal commit that cannot be written is undone and, until the
// journal can be written again (journalwatch.go), nothing is granted or
// paid and notifications wait: SHAKEs get 17 (overloaded). The admin API has the HTTP
// timeouts and limits of internal/httpserve.
//
// It speaks the protocol through server/wire, journals through
// server/ledger, takes its admin API's types from server/admin, serves it
// through internal/httpserve, waits through internal/netpoll, and may use
// telemetry; it must never import
// agents, coordinator, checks or cli.
package server
