// Package agents is the load-generating side of hbctl: an Engine holds
// thousands of user connections to the access servers, fires SHAKEs at the
// intended times of a schedule.Plan on the coordinator's clock, OPENs the
// envelopes its users are sent, journals every envelope event to the client
// ledger and hands out per-second windows of counters and HdrHistograms.
//
// Connections are non-blocking sockets driven by a few epoll loops (one per
// core, run two to a thread while lightly loaded: pair.go), each owning its
// users outright: per-connection state is a small
// struct in a slice, not a goroutine with a stack and a buffered reader, so
// an agent holds a connection in well under 4 KiB. Each loop paces its own
// users' fires from absolute time with a timerfd, never one timer per user.
//
// CPU per SHAKE is mostly the kernel's: the write itself and the wake-ups.
// A loop parks through the runtime's poller, never in a blocking
// epoll_wait, so the scheduler does not churn threads; its timer wakes it
// only on the steps of a wake grid (Config.WakeGrid), so close fires go out
// together; and while the timer will wake it within a step, answers wait
// for that wake-up and are timed by the kernel's receive timestamps.
//
// Delivery is at least once: a user opens each envelope once whatever the
// number of its ENVELOPE frames, and an OPEN lost with its connection is
// sent again after the next login (a repeated OPEN is paid once). Logins
// and connection losses are journaled next to the envelope events.
//
// It imports from hbctl only server/wire, server/ledger, coordinator/schedule,
// internal/netpoll and telemetry; it must never import the server, the
// coordinator or cli.
package agents
