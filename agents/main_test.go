package agents

import (
	"os"
	"testing"
)

// childEnv switches the test binary into an agent child process for the
// benchmarks (see bench_test.go).
const childEnv = "HBCTL_AGENT_BENCH_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case floorChildMode:
		os.Exit(floorChild())
	case floorServerMode:
		os.Exit(floorServer())
	}
	if os.Getenv(childEnv) != "" {
		os.Exit(benchChild())
	}
	os.Exit(m.Run())
}
