// Package remote attaches an agent engine to a coordinator: it registers,
// measures its clock against the coordinator's time service, sends a
// heartbeat every second with the engine's completed windows, status and
// clock offset, and applies the assignments (servers, users, plan) it
// receives by long poll. The agent only dials out, so it needs no inbound
// port. When the coordinator goes away the load keeps running and the agent
// reconnects with backoff, resending the windows it could not deliver.
//
// It imports agents, agents/clock and coordinator/api (plus the schedule
// they carry); never the coordinator itself, the server or cli.
package remote
