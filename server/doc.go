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
// It speaks the protocol through server/wire, journals through
// server/ledger, takes its admin API's types from server/admin, waits
// through internal/netpoll, and may use telemetry; it must never import agents, coordinator, checks or cli.
package server
