// Package schedule is the slot math every agent executes: which user fires
// which SHAKE at which instant so that all agents together send exactly Q
// requests in every second, spread evenly inside it, and switch rates at
// the same instant.
//
// The coordinator builds a Plan and hands it to every agent; each agent
// walks only its own users' fires with a Cursor. Both sides compute the same
// integers from the same Plan, so they agree without talking.
//
// It is a contract shared by the coordinator and the agents, so it imports
// nothing else of hbctl, and it does no I/O: all of it is pure functions of
// the Plan and of the times passed in.
package schedule
