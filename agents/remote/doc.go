// Package remote attaches an agent engine to a coordinator: it registers,
// measures its clock against the coordinator's time service, sends a
// heartbeat every second with the engine's completed windows, status and
// clock offset, and applies the assignments (servers, users, plan) it
// receives by long poll. The agent only dials out, so it needs no inbound
// port. When the coordinator goes away the load keeps running and the agent
// reconnects with backoff, resending the windows it could not deliver.
//
// On a verification's request (a Collect in the assignment) it uploads the
// engine's journal, per-user counters and pending count, with the restarts
// after an unclean stop (restarts.jsonl) that verification bounds by the
// schedule.
//
// It also carries the host's samples (HostPoints, fed by a
// telemetry.Sampler) to the coordinator with the heartbeats, bounded.
//
// It speaks to the coordinator through coordinator/client, as hbctl's
// control commands do. It imports agents, agents/clock, coordinator/api
// and coordinator/client (plus the schedule they carry) and telemetry;
// never the coordinator itself, the server or cli.
package remote
