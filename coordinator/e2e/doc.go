// Package e2e runs the real hbctl binary as separate processes (server,
// coordinator, agents on distinct loopback addresses, control commands)
// and checks the run end to end. It has no code outside its tests and
// imports of hbctl only the contracts a user's own tooling would:
// coordinator/api, server/admin and server/wire.
package e2e
