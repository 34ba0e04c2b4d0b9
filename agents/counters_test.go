package agents

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hbctl/hbctl/server/ledger"
)

// The hand-written checkpoint encoder writes exactly what encoding/json
// writes, so readers (the engine itself, agents/remote) see no change.
func TestAppendCheckpointMatchesJSON(t *testing.T) {
	full := ledger.ClientUser{UID: 4294967295, Srv: "127.0.0.1:7000", Shake: 1<<64 - 1, Got: 2, None: 3,
		Overloaded: 4, Lost: 5, Pending: 6, Unanswered: 7, Skipped: 8, OpenSent: 9, OpenAnswered: 10}
	for _, tc := range []struct {
		name  string
		agent string
		t     int64
		users []ledger.ClientUser
	}{
		{"no users", "h01", 1700000000123, nil},                                     // encoding/json writes null
		{"empty users", "h01", 0, []ledger.ClientUser{}},                            // and [] for an empty slice
		{"zero user", "h01", -5, []ledger.ClientUser{{}}},                           // srv omitted, zeros written
		{"full user", "agent-7", 42, []ledger.ClientUser{full, {UID: 1, Srv: "s"}}}, // every field
		{"escaped strings", "a\"b\\<c>&\u00e9\x01", 1, []ledger.ClientUser{{UID: 2, Srv: "\u2028x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&Checkpoint{Agent: tc.agent, T: tc.t, Users: tc.users})
			if err != nil {
				t.Fatal(err)
			}
			got := appendCheckpoint([]byte("prefix"), tc.agent, tc.t, tc.users)
			if string(got) != "prefix"+string(want) {
				t.Errorf("got  %s\nwant prefix%s", got, want)
			}
		})
	}
}

// The queue keeps order across the reclaiming of its popped half.
func TestFIFO(t *testing.T) {
	var q fifo[int]
	next, want := 0, 0
	for round := 0; round < 50; round++ {
		for k := 0; k < round%7+1; k++ {
			q.push(next)
			next++
		}
		for k := 0; k < round%5+1; k++ {
			v, ok := q.front()
			if !ok {
				break
			}
			if v != want {
				t.Fatalf("round %d: front %d, want %d", round, v, want)
			}
			q.pop()
			want++
		}
		if q.len() != next-want {
			t.Fatalf("round %d: len %d, want %d", round, q.len(), next-want)
		}
	}
}

func BenchmarkCheckpointEncode(b *testing.B) {
	for _, n := range []int{15000} {
		users := make([]ledger.ClientUser, n)
		for i := range users {
			users[i] = ledger.ClientUser{UID: uint32(i), Srv: "127.0.0.1:7000", Shake: uint64(i * 3), Got: uint64(i), None: uint64(i * 2)}
		}
		b.Run(fmt.Sprintf("users=%d/enc=append", n), func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = appendCheckpoint(buf[:0], "bench", 1, users)
			}
			b.ReportMetric(float64(len(buf)), "bytes")
		})
		b.Run(fmt.Sprintf("users=%d/enc=json", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(&Checkpoint{Agent: "bench", T: 1, Users: users}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
