// Package e2e runs the real hbctl binary as separate processes (server,
// coordinator, agents on distinct loopback addresses, control commands)
// and checks the run end to end. It has no code outside its tests and
// imports only coordinator/api besides the standard library.
package e2e
