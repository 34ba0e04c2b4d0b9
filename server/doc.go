// Package server is the reference red-envelope server: it holds user
// connections partitioned into SETs by uid, answers SHAKE from per-SET
// envelope pools fed by a rate-paced producer, pushes sent envelopes and
// pays their shares on OPEN, journals every envelope event with group
// commit before the client can see it, and exposes an admin HTTP API.
//
// Connections are non-blocking sockets driven by a few epoll loops
// (loop.go), each the worker of its share of the SETs (set.go), so that
// a request costs one read and one write and no goroutine hand-off.
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
// It speaks the protocol through server/wire and journals through
// server/ledger, and may use telemetry; it must never import agents,
// coordinator, checks or cli.
package server
