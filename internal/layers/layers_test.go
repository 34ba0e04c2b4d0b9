package layers

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/hbctl/hbctl/"

// rule is what one package's doc.go says about its imports. Patterns are
// paths under the module; "x/..." is x and everything below it.
type rule struct {
	// only, when not nil, lists every package of hbctl the package may
	// import directly ("imports nothing of hbctl but ..."); empty means
	// none.
	only []string
	// never lists packages it must not depend on, directly or through
	// another package ("must never import ...").
	never []string
}

// none is the rule of a package that imports nothing else of hbctl.
var none = []string{}

// rules holds one entry per package of the module; a package without one
// fails the test, so a new package states its rule here and in its doc.go.
var rules = map[string]rule{
	// Contracts both sides share.
	"server/wire":           {only: none},
	"server/ledger":         {only: none},
	"coordinator/schedule":  {only: none},
	"server/admin":          {only: []string{"server/ledger", "internal/httpserve"}},
	"coordinator/api":       {only: []string{"coordinator/schedule", "server/ledger", "checks"}},
	"coordinator/client":    {only: []string{"coordinator/api"}},
	"coordinator/runrecord": {only: []string{"coordinator/api"}},

	// Pure reconciliation.
	"checks":            {only: []string{"server/ledger"}},
	"checks/checkstest": {only: []string{"checks", "server/ledger"}},

	// Telemetry: nothing else of hbctl; everyone may use it.
	"telemetry":             {only: none},
	"telemetry/influxflags": {only: []string{"telemetry"}},
	"telemetry/influxtest":  {only: none},

	// The reference server.
	"server": {
		only:  []string{"server/wire", "server/ledger", "server/admin", "internal/httpserve", "internal/netpoll", "internal/durable", "telemetry"},
		never: []string{"agents/...", "coordinator/...", "checks/...", "cli/..."},
	},
	"server/servertest": {only: []string{"server", "server/admin"}},

	// The agents.
	"agents": {
		only:  []string{"server/wire", "server/ledger", "coordinator/schedule", "internal/netpoll", "internal/durable", "telemetry"},
		never: []string{"server", "coordinator", "cli/..."},
	},
	"agents/clock": {only: []string{"coordinator/api"}},
	"agents/remote": {
		only:  []string{"agents", "agents/clock", "coordinator/api", "coordinator/client", "coordinator/schedule", "server/ledger", "internal/durable", "telemetry"},
		never: []string{"coordinator", "server", "cli/..."},
	},

	// The control plane.
	"coordinator": {
		never: []string{"agents/...", "server", "server/servertest", "cli/..."},
	},
	"coordinator/timesvc": {only: []string{"coordinator/api"}},
	"coordinator/report": {
		only:  []string{"coordinator/runrecord", "coordinator/api", "telemetry"},
		never: []string{"coordinator", "agents/...", "server", "cli/..."},
	},
	"coordinator/scenario": {
		never: []string{"cli/...", "agents/...", "server", "coordinator"},
	},
	"coordinator/e2e": {only: []string{"coordinator/api", "server/admin", "server/wire"}},

	// The command tree: thin, and nothing imports it.
	"cli/app":             {},
	"cli/hbctl":           {only: []string{"cli/app"}},
	"cli/commands/common": {only: []string{"coordinator/client", "coordinator/api", "internal/httpserve"}},

	"dashboards":         {only: none},
	"internal/testwait":  {only: none},
	"internal/httpserve": {only: none},
	"internal/netpoll":   {only: none},
	"internal/durable":   {only: none},
	"internal/layers":    {only: none},
}

// pkg is what go list says of one package.
type pkg struct {
	path    string
	imports []string // of hbctl, without the module prefix
	deps    []string // likewise, transitive
}

func list(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}|{{join .Deps \",\"}}", "github.com/hbctl/hbctl/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	ours := func(s string) []string {
		var r []string
		for _, p := range strings.Split(s, ",") {
			if rest, ok := strings.CutPrefix(p, module); ok {
				r = append(r, rest)
			}
		}
		return r
	}
	pkgs := map[string]pkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 3 {
			continue
		}
		path := strings.TrimPrefix(f[0], module)
		pkgs[path] = pkg{path: path, imports: ours(f[1]), deps: ours(f[2])}
	}
	if len(pkgs) < 30 {
		t.Fatalf("go list found %d packages: %s", len(pkgs), out)
	}
	return pkgs
}

func match(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return pattern == path
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// TestImportRules checks every package of the module against its rule.
func TestImportRules(t *testing.T) {
	pkgs := list(t)
	paths := make([]string, 0, len(pkgs))
	for p := range pkgs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		p := pkgs[path]
		r, ok := rules[path]
		if !ok && strings.HasPrefix(path, "cli/commands/") {
			// Every command package: flags and a call into an engine;
			// command packages import common, never each other.
			for _, imp := range p.imports {
				if strings.HasPrefix(imp, "cli/") && imp != "cli/commands/common" {
					t.Errorf("%s imports %s: command packages share code through cli/commands/common only", path, imp)
				}
			}
			continue
		}
		if !ok {
			t.Errorf("%s has no import rule: state in its doc.go what it must never import, and add the rule to internal/layers", path)
			continue
		}
		if r.only != nil {
			for _, imp := range p.imports {
				if !slices.Contains(r.only, imp) {
					t.Errorf("%s imports %s; its doc.go allows only %v", path, imp, r.only)
				}
			}
		}
		for _, dep := range p.deps {
			if matchAny(r.never, dep) {
				t.Errorf("%s depends on %s, which its doc.go forbids (%v)", path, dep, r.never)
			}
		}
	}
	// Nothing imports cli but cli itself.
	for _, path := range paths {
		if strings.HasPrefix(path, "cli/") {
			continue
		}
		for _, dep := range pkgs[path].deps {
			if strings.HasPrefix(dep, "cli/") {
				t.Errorf("%s depends on %s: nothing imports cli", path, dep)
			}
		}
	}
	for path := range rules {
		if _, ok := pkgs[path]; !ok {
			t.Errorf("rule for %s, which is no package: remove it", path)
		}
	}
}

// TestRulesBite makes sure a rule can fail: the matcher and the listing
// must see a forbidden dependency where there is one.
func TestRulesBite(t *testing.T) {
	pkgs := list(t)
	if !slices.Contains(pkgs["coordinator"].deps, "server/ledger") {
		t.Fatalf("go list shows no dependency of coordinator on server/ledger: %v", pkgs["coordinator"].deps)
	}
	if !matchAny([]string{"agents/..."}, "agents/remote") || matchAny([]string{"server"}, "server/admin") {
		t.Fatal("patterns do not match as documented")
	}
}
