package demo

import (
	"bytes"
	"os"
	"testing"

	"github.com/hbctl/hbctl/coordinator/scenario"
)

// The built-in scenario is scripts/scenarios/local.yaml, byte for byte.
func TestLocalScenarioIsTheShippedOne(t *testing.T) {
	b, err := os.ReadFile("../../../scripts/scenarios/local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, LocalScenario) {
		t.Fatal("cli/commands/demo/local.yaml differs from scripts/scenarios/local.yaml: copy it over")
	}
	sc, err := scenario.Parse("local.yaml", LocalScenario)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Users != DefaultUsers {
		t.Errorf("local.yaml has %d users, the demo's default is %d", sc.Users, DefaultUsers)
	}
	for _, st := range sc.Steps {
		if st.QPS != nil && *st.QPS > 0 {
			if *st.QPS != DefaultQPS {
				t.Errorf("local.yaml's first rate is %d, the demo's default is %d", *st.QPS, DefaultQPS)
			}
			break
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	tests := []struct {
		o  Options
		ok bool
	}{
		{Options{Users: 10000, Agents: 4, QPS: 1000}, true},
		// nothing to run
		{Options{Users: 0, Agents: 4, QPS: 1000}, false},
		{Options{Users: 10, Agents: 0, QPS: 1000}, false},
		{Options{Users: 10, Agents: 1, QPS: 0}, false},
		// more loopback addresses than there are
		{Options{Users: 1000, Agents: 251, QPS: 10}, false},
		// one agent cannot hold a million users here
		{Options{Users: 1000000, Agents: 1, QPS: 10}, false},
		// a scenario file that is not there
		{Options{Users: 10, Agents: 1, QPS: 10, Scenario: "/nonexistent.yaml"}, false},
	}
	for _, tt := range tests {
		_, err := tt.o.check()
		if (err == nil) != tt.ok {
			t.Errorf("%+v: %v", tt.o, err)
		}
	}
	if c := agentCapacity(10000, 4); c < 2500 || c > 2800 {
		t.Errorf("capacity %d for 2500 users each", c)
	}
}
