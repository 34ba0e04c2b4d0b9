package scenario

import (
	"fmt"
	"os"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
)

// BenchmarkMeasure: the end-of-run evaluation over every second of a long
// run (the runner keeps them all, since status holds only 120).
func BenchmarkMeasure(b *testing.B) {
	for _, secs := range []int{600, 3600, 86400} {
		b.Run(fmt.Sprintf("seconds=%d", secs), func(b *testing.B) {
			log := secondLog{}
			for t := range int64(secs) {
				q := int64(30000)
				if t > int64(secs)/2 {
					q = 60000
				}
				log[t] = api.SecondBrief{T: t, Target: q, Sent: q - t%3}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var m Measures
			for b.Loop() {
				m = measure(&api.Status{}, log, 0, int64(secs))
			}
			b.ReportMetric(float64(m.QPSSeconds), "seconds")
		})
	}
}

// BenchmarkParse: the classic scenario, strict decoding included.
func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("../../scripts/scenarios/classic.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("classic.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}
