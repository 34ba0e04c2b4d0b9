package dashboards

import (
	"context"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
	"time"
)

// TestSchema type-checks every dashboard against Grafana's own schema
// (@grafana/schema, pinned in schema/package.json) with the TypeScript
// compiler, and shows that a dashboard with a wrong field type fails it.
// It needs npm; without it the test skips.
func TestSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("installs @grafana/schema and typescript with npm")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("no npm on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = "schema"
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(npm, "ci", "--no-audit", "--no-fund"); err != nil {
		// Without the registry there is nothing to check against; CI must
		// have it.
		msg := "npm ci in dashboards/schema: " + err.Error() + "\n" + out
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	npx := strings.TrimSuffix(npm, "npm") + "npx"
	if _, err := os.Stat(npx); err != nil {
		npx = "npx"
	}
	tsc := func(project string) (string, error) {
		return run(npx, "--no-install", "tsc", "--noEmit", "-p", project)
	}

	t.Run("dashboards", func(t *testing.T) {
		check, err := os.ReadFile("schema/check.ts")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range dashboardFiles(t) {
			if !strings.Contains(string(check), "'../grafana/"+path.Base(name)+"'") {
				t.Errorf("schema/check.ts does not import %s", name)
			}
		}
		if out, err := tsc("tsconfig.json"); err != nil {
			t.Fatalf("dashboards do not type-check as @grafana/schema Dashboard: %v\n%s", err, out)
		}
	})
	t.Run("broken fixture fails", func(t *testing.T) {
		out, err := tsc("tsconfig.broken.json")
		if err == nil {
			t.Fatal("schema/testdata/broken-gridpos.json passed the check; it has a string gridPos.w")
		}
		if !strings.Contains(out, "gridPos.w") || !strings.Contains(out, "TS2322") {
			t.Fatalf("broken fixture failed, but not on gridPos.w:\n%s", out)
		}
	})
}
