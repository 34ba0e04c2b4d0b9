// Package httpserve hardens the HTTP servers of hbctl (the reference
// server's admin API and the coordinator's API): read, write and idle
// timeouts, counters of connections closed by them and of bodies over
// their limit, and TLS from a certificate and key, with the matching
// client side that trusts a CA file.
//
// It imports nothing else of hbctl, so both the server and the
// coordinator may use it.
package httpserve
