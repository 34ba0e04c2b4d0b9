package checks_test

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
)

// BenchmarkVerify reconciles generated ledgers of growing size; the
// largest is the target scale: a million users and 100,000 envelopes
// (80,000 shake, 20,000 sent to 3 recipients each). peak-heap-MiB is the
// largest live heap seen while Verify ran, input included; input-MiB is
// the ledgers alone.
func BenchmarkVerify(b *testing.B) {
	for _, size := range []struct{ users, envelopes int }{
		{10_000, 1_000},
		{100_000, 10_000},
		{1_000_000, 100_000},
	} {
		b.Run(fmt.Sprintf("users=%d/envelopes=%d", size.users, size.envelopes), func(b *testing.B) {
			if size.users > 100_000 && testing.Short() {
				b.Skip("large ledgers in -short mode")
			}
			shake := size.envelopes * 4 / 5
			in := checkstest.Generate(checkstest.Config{
				Servers: 4, Agents: 17, Users: size.users, ShakesPerUser: 3,
				ShakeEnvelopes: shake, Granted: shake * 9 / 10,
				SentEnvelopes: size.envelopes - shake, Recipients: 3,
				Unknown: size.users / 100, Seed: 1,
			})
			records := 0
			for _, s := range in.Servers {
				records += len(s.Records)
			}
			for _, a := range in.Agents {
				records += len(a.Records)
			}
			runtime.GC()
			input := heapBytes()
			peak := sampleHeap()
			b.ReportAllocs()
			for b.Loop() {
				rep, err := checks.Verify(in)
				if err != nil || rep.Verdict != checks.VerdictReconciled {
					b.Fatalf("verdict %v, err %v", rep.Verdict, err)
				}
			}
			b.StopTimer()
			perOp := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(records)/perOp, "records/s")
			b.ReportMetric(float64(2*size.users)/perOp, "user-counters/s")
			b.ReportMetric(float64(input)/(1<<20), "input-MiB")
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
		})
	}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap watches the live heap every millisecond until the returned
// function is called, which returns the largest figure seen.
func sampleHeap() func() uint64 {
	var (
		mu   sync.Mutex
		peak = heapBytes()
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				h := heapBytes()
				mu.Lock()
				peak = max(peak, h)
				mu.Unlock()
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
