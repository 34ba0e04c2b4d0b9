// Package scenario runs a declarative load experiment, `hbctl run FILE`:
// a YAML file names the targets, the users and the connect rate, a list of
// timed steps (qps, shake, send, wait, wait_until, verify, disconnect) and
// thresholds that decide the verdict. Thresholds are evaluated on what the
// coordinator merged over every agent (histograms merged, never averaged,
// and per-second counters), which no single load generator can see.
//
// The runner drives the coordinator through coordinator/client (the
// Control interface) and reads the target servers' admin stats, through
// server/admin, only to know when a release has finished. It must not
// import cli, agents or server: those are other processes.
package scenario
