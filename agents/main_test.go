package agents

import (
	"os"
	"testing"
)

// childEnv switches the test binary into an agent child process for the
// benchmarks (see bench_test.go).
const childEnv = "HBCTL_AGENT_BENCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == floorChildMode {
		os.Exit(floorChild())
	}
	if os.Getenv(childEnv) != "" {
		os.Exit(benchChild())
	}
	os.Exit(m.Run())
}
