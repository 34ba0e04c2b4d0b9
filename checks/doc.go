// Package checks reconciles the ledgers of a run: from every server's
// journal, per-user counters and pool stats, and every agent's journal and
// per-user counters, it proves that not one envelope, cent or request went
// missing on either side, or names each place where one did.
//
// Verify is a pure function of its Input: it does no network or file I/O,
// so fetching ledgers and quiescing the load stay with the coordinator.
// It imports nothing of hbctl but server/ledger, the record types both
// sides write.
//
// Requests whose outcome the clients cannot know (a connection closed while
// a SHAKE was pending, a SHAKE still awaited at the cut, SHAKEs sent after
// an agent's last counters checkpoint before a crash) are never silently
// absorbed: they are counted apart in Report.Unknown, and they bound, per
// user, how far the server's figures may exceed what the clients
// acknowledged. A difference beyond that bound is a Discrepancy.
//
// Faults are bounded by what the ledgers prove about them, never excused
// wholesale: a server restarted after a crash may count less than it
// received, by at most its crash window's bound (Server.UnknownCounts),
// and an ENVELOPE that never arrived is excused only by a loss of the
// recipient's connection the agent journaled at or after it, with no
// login since that should have brought it again (delivery is at least
// once); the same missing ENVELOPE on a connection never reset is a
// discrepancy. The
// journal checks always run, even when a server's counters are lost.
//
// Inputs scale to millions of users: envelopes and users are keyed by
// packed integers and matched by sort-merge, not by maps of strings.
package checks
