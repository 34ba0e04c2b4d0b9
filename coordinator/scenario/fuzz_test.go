package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any bytes give a scenario or an error, never a panic; a
// scenario that parses holds only steps with exactly one action and
// thresholds on known metrics.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../scripts/scenarios/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("steps:\n  - {qps: 1, wait: 1s}\n"))
	f.Add([]byte("thresholds:\n  - ledger: reconciled\n  - shake.p99 < 1ms\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := Parse("fuzz.yaml", b)
		if err != nil {
			return
		}
		for _, st := range sc.Steps {
			if st.String() == "?" {
				t.Fatalf("step without an action: %+v", st)
			}
		}
		for _, th := range sc.Thresholds {
			if _, ok := metrics[th.Metric]; !ok {
				t.Fatalf("threshold on unknown metric %q", th.Metric)
			}
			th.Evaluate(&Measures{})
		}
	})
}
