// Package netpoll is what the agents' and the server's event loops share
// to wait without waking the runtime: an epoll set parked through Go's
// network poller, and the non-blocking system calls of a loop made raw.
//
// A goroutine blocked in epoll_wait keeps its P until sysmon takes it back
// and hands it to a freshly woken M, which finds nothing to do and sleeps
// again; at thousands of wake-ups a second per loop that churn of futex
// wake-ups and context switches costs more CPU than the requests. A loop
// that parks through the runtime's poller leaves its P idle instead, and
// sysmon goes quiet. Likewise entersyscall, around every ordinary system
// call, wakes a sleeping sysmon; calls that cannot block need none of it.
//
// A loop due again within a step of its wake grid, waiting for nothing
// but the time, naps instead (nap.go): it sleeps holding its P, which costs
// one system call where a park and a wake-up through the runtime cost two
// epoll_waits and the scheduler's search for work.
//
// Pair runs two such loops on one goroutine while it has time to spare,
// and on two once it has not.
//
// It imports nothing of hbctl.
package netpoll
