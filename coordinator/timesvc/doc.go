// Package timesvc is the coordinator's UDP time service: it answers each
// time packet (coordinator/api) with its receive and send times, so that
// agents can estimate their clock offset NTP-style and fire on the
// coordinator's clock.
//
// It imports nothing of hbctl but coordinator/api, and keeps no state per
// client: one datagram in, one datagram out.
package timesvc
