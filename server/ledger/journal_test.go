package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestAppendJSONShapes(t *testing.T) {
	cases := []struct {
		rec  Record
		want string
	}{
		{Record{Ev: EvIssue, Env: 0x100000, Amount: 250, T: 7}, `{"ev":"issue","env":1048576,"amount":250,"t":7}`},
		// uid 0 is a real user and must be written.
		{Record{Ev: EvGrant, Env: 1, UID: 0, Amount: 10, T: 7}, `{"ev":"grant","env":1,"uid":0,"amount":10,"t":7}`},
		{Record{Ev: EvSend, Env: 0x200000, Amount: 300, To: []uint32{5, 9, 11}, T: 7}, `{"ev":"send","env":2097152,"amount":300,"to":[5,9,11],"t":7}`},
		// The server's notify: no recipients, no amount.
		{Record{Ev: EvNotify, Env: 2, UID: 9, T: 7}, `{"ev":"notify","env":2,"uid":9,"t":7}`},
		// The agent's notify carries what the ENVELOPE said, and the server.
		{Record{Ev: EvNotify, Env: 2, UID: 9, To: []uint32{5, 9}, Amount: 300, T: 7, Srv: "127.0.0.1:1025"},
			`{"ev":"notify","env":2,"uid":9,"to":[5,9],"amount":300,"t":7,"srv":"127.0.0.1:1025"}`},
		{Record{Ev: EvOpen, Env: 2, UID: 9, Amount: 120, T: 7}, `{"ev":"open","env":2,"uid":9,"amount":120,"t":7}`},
		// Connection events, on either side.
		{Record{Ev: EvLogin, UID: 0, T: 7}, `{"ev":"login","env":0,"uid":0,"t":7}`},
		{Record{Ev: EvDown, UID: 9, T: 7, Srv: "127.0.0.1:1025"}, `{"ev":"down","env":0,"uid":9,"t":7,"srv":"127.0.0.1:1025"}`},
		{Record{Ev: EvRelease, Kind: ReleaseShake, Total: 4000, Rate: 200, T: 7}, `{"ev":"release","env":0,"kind":"shake","total":4000,"rate":200,"t":7}`},
	}
	for _, c := range cases {
		got := string(AppendJSON(nil, &c.rec))
		if got != c.want+"\n" {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
		back, err := ParseLine([]byte(got))
		if err != nil {
			t.Fatal(err)
		}
		if string(AppendJSON(nil, &back)) != got {
			t.Errorf("round trip changed %s", got)
		}
	}
}

func TestParseLineRejects(t *testing.T) {
	for _, s := range []string{`{"ev":"steal","env":1}`, `{"ev":"release","kind":"steal","total":1}`, `{"ev":"grant","env":-1}`, `not json`, `{"ev":"grant","env":1`} {
		if _, err := ParseLine([]byte(s)); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
}

func TestJournalConcurrentAppendsAreDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	j, rp, err := Open(path)
	if err != nil || len(rp.Records) != 0 {
		t.Fatal(err, rp)
	}
	var wg sync.WaitGroup
	const G, N = 8, 200
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < N; i++ {
				if err := j.Append(Record{Ev: EvGrant, Env: uint32(g*N + i), UID: uint32(g), Amount: 1}); err != nil {
					t.Error(err)
					return
				}
				// Acknowledged means on disk, before Close.
				if i == N-1 {
					b, _ := os.ReadFile(path)
					if !bytes.Contains(b, AppendJSON(nil, &Record{Ev: EvGrant, Env: uint32(g*N + i), UID: uint32(g), Amount: 1})) {
						t.Error("acknowledged record not in the file")
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, rp, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if len(rp.Records) != G*N || rp.TornTail {
		t.Fatalf("replayed %d records (torn %v), want %d", len(rp.Records), rp.TornTail, G*N)
	}
	seen := map[uint32]bool{}
	for _, r := range rp.Records {
		if seen[r.Env] {
			t.Fatalf("env %d twice", r.Env)
		}
		seen[r.Env] = true
	}
}

func TestJournalTornTail(t *testing.T) {
	cases := []struct {
		name string
		tail string
	}{
		// The crash cut the last line short.
		{"cut", `{"ev":"grant","env":3,"ui`},
		// The file system left zeros where the last line should be.
		{"zeros", "\x00\x00\x00\x00\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.jsonl")
			good := `{"ev":"issue","env":1,"amount":5,"t":1}` + "\n" + `{"ev":"grant","env":1,"uid":4,"amount":5,"t":2}` + "\n"
			if err := os.WriteFile(path, []byte(good+c.tail), 0o644); err != nil {
				t.Fatal(err)
			}
			j, rp, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if !rp.TornTail || len(rp.Records) != 2 {
				t.Fatalf("torn=%v records=%d", rp.TornTail, len(rp.Records))
			}
			// New records start on a clean line, not glued to the torn one.
			if err := j.Append(Record{Ev: EvGrant, Env: 2, UID: 4, Amount: 5, T: 3}); err != nil {
				t.Fatal(err)
			}
			j.Close()
			b, _ := os.ReadFile(path)
			want := good + `{"ev":"grant","env":2,"uid":4,"amount":5,"t":3}` + "\n"
			if string(b) != want {
				t.Fatalf("file after reopen:\n%s", b)
			}
		})
	}
}

func TestJournalCorruptMiddleIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	body := `{"ev":"issue","env":1,"amount":5,"t":1}` + "\n" + "garbage\n" + `{"ev":"issue","env":2,"amount":5,"t":1}` + "\n"
	os.WriteFile(path, []byte(body), 0o644)
	if _, _, err := Open(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want an error naming line 2, got %v", err)
	}
}

func TestJournalClosed(t *testing.T) {
	j, _, err := Open(filepath.Join(t.TempDir(), "l"))
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := j.Append(Record{Ev: EvIssue}); err != ErrClosed {
		t.Fatalf("got %v", err)
	}
}

// A commit that cannot be written reaches OnFail once, even when its only
// waiter ignores errors (as the server's connection events do), and the
// journal reports itself failing.
func TestJournalOnFailSeesEveryFailedCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")
	j, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var fails []error
	var mu sync.Mutex
	j.OnFail(func(err error) { mu.Lock(); fails = append(fails, err); mu.Unlock() })
	if err := j.Append(Record{Ev: EvIssue, Env: 1, Amount: 5, T: 1}); err != nil {
		t.Fatal(err)
	}
	// The file, as the committer sees it, can no longer be written.
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	j.wmu.Lock()
	rw := j.f
	j.f = ro
	j.wmu.Unlock()
	defer rw.Close()

	told := make(chan struct{})
	j.AppendAsync(func(error) { close(told) }, Record{Ev: EvIssue, Env: 2, Amount: 5, T: 2})
	<-told
	mu.Lock()
	defer mu.Unlock()
	if len(fails) != 1 || fails[0] == nil {
		t.Fatalf("OnFail was told %v, want the one failed commit", fails)
	}
	if j.Healthy() {
		t.Error("healthy after a failed commit")
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"ev":"issue","env":1,"amount":5,"t":1}` + "\n"))
	f.Add([]byte(`{"ev":"grant","env":1,"uid":4,"amount":5,"t":2}` + "\n" + `{"ev":"gr`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rp, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever was accepted re-encodes and reads back the same.
		var out []byte
		for i := range rp.Records {
			out = AppendJSON(out, &rp.Records[i])
		}
		rp2, err := Read(bytes.NewReader(out))
		if err != nil || len(rp2.Records) != len(rp.Records) || rp2.TornTail {
			t.Fatalf("re-read: %v %d/%d", err, len(rp2.Records), len(rp.Records))
		}
	})
}

func BenchmarkJournalAppend(b *testing.B) {
	for _, g := range []int{1, 64} {
		b.Run(map[int]string{1: "writers=1", 64: "writers=64"}[g], func(b *testing.B) {
			j, _, err := Open(filepath.Join(b.TempDir(), "l"))
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			b.ReportAllocs()
			b.SetParallelism(g)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := j.Append(Record{Ev: EvGrant, Env: 1, UID: 2, Amount: 3, T: 4}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
