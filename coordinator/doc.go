// Package coordinator is hbctl's control plane: the registry of agents that
// dial in, the plans they run (built with coordinator/schedule and re-built
// over the live agents when one dies), the UDP time service they measure
// their clocks against, the aggregation of their per-second windows into
// the run timeline, the forwarding of shake and send to the target
// servers' admin APIs, the polling of those APIs for the SHAKEs each
// server counted per second (serverrate.go, set beside the clients' figures
// on the timeline), and the verification of the ledgers (verify.go:
// quiesce, collect from agents through the long poll and from servers'
// admin APIs, reconcile with checks).
//
// It speaks to agents and to hbctl's commands only through the HTTP types
// of coordinator/api, and to the servers' admin APIs only through
// server/admin. It must not import agents, server (other than its
// contracts: server/ledger, server/wire, server/admin) or cli: agents and
// servers are other processes (tests start the reference server
// in-process, through server/servertest, to have one to talk to).
package coordinator
