package checkstest

import (
	"fmt"
	"slices"

	"github.com/hbctl/hbctl/checks"
)

// Clone deep-copies an Input, so that one set of ledgers (generated or
// taken from a run) serves many mutations.
func Clone(in *checks.Input) *checks.Input {
	out := &checks.Input{Servers: slices.Clone(in.Servers), Agents: slices.Clone(in.Agents)}
	for i := range out.Servers {
		s := &out.Servers[i]
		s.Records = slices.Clone(s.Records)
		for j := range s.Records {
			s.Records[j].To = slices.Clone(s.Records[j].To)
		}
		s.Users = slices.Clone(s.Users)
		if s.Stats != nil {
			st := *s.Stats
			s.Stats = &st
		}
	}
	for i := range out.Agents {
		a := &out.Agents[i]
		a.Records = slices.Clone(a.Records)
		for j := range a.Records {
			a.Records[j].To = slices.Clone(a.Records[j].To)
		}
		a.Users = slices.Clone(a.Users)
		a.UnknownShakes = slices.Clone(a.UnknownShakes)
		for j := range a.UnknownShakes {
			a.UnknownShakes[j].UIDs = slices.Clone(a.UnknownShakes[j].UIDs)
		}
	}
	return out
}

// ClientOnly turns server srv into one without an admin API: its
// journal, counters and stats are gone, as Verify would get them.
func ClientOnly(in *checks.Input, srv string) error {
	for i := range in.Servers {
		if s := &in.Servers[i]; s.Name == srv {
			*s = checks.Server{Name: s.Name, ClientOnly: true}
			return nil
		}
	}
	return fmt.Errorf("checkstest: no server %q", srv)
}
