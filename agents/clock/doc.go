// Package clock is the agents' view of the coordinator's clock: it measures
// the local clock's offset against the coordinator's UDP time service with
// NTP's four timestamps, keeps the least-delay sample of each round, and
// gives Now() = local clock + offset, the time every fire is scheduled on.
//
// It imports nothing of hbctl but coordinator/api (the time packet).
package clock
