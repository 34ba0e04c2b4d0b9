// Package testwait is the one polling helper hbctl's tests use to wait for
// a condition instead of sleeping for an event. It is imported by test
// files only and imports nothing of hbctl.
package testwait

import (
	"testing"
	"time"
)

// maxInterval caps the back-off, so a condition that runs a process (a
// status command) is not asked more than 20 times a second.
const maxInterval = 50 * time.Millisecond

// For polls cond until it holds, failing t with what once d has passed.
// The interval starts at 1 ms and doubles up to maxInterval, so a quick
// condition is seen quickly and a slow one is not hammered.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for every := time.Millisecond; !cond(); every = min(2*every, maxInterval) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(every)
	}
}
