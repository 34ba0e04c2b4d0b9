package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// expandLikeGrafana expands $VAR and ${VAR} the way Grafana's provisioning
// does (os.Expand over each part split at "$$", which stands for "$"),
// reading variables from env instead of the process environment.
func expandLikeGrafana(s string, env map[string]string) string {
	parts := strings.Split(s, "$$")
	for i, p := range parts {
		parts[i] = os.Expand(p, func(k string) string { return env[k] })
	}
	return strings.Join(parts, "$")
}

func TestDatasourceProvisioning(t *testing.T) {
	var f datasourcesFile
	loadYAML(t, "provisioning/datasources/hbctl.yaml", &f)
	if f.APIVersion != 1 {
		t.Errorf("apiVersion %d, want 1", f.APIVersion)
	}
	uids := loadDatasources(t)
	env := map[string]string{
		"HBCTL_INFLUX_URL":      "http://127.0.0.9:18086",
		"HBCTL_INFLUX_USER":     "hb",
		"HBCTL_INFLUX_PASSWORD": "secret",
		"HBCTL_INFLUX_TOKEN":    "hb:secret",
	}
	for _, tc := range []struct {
		uid      string
		version  string
		jsonKey  string // where the database or bucket is named
		jsonWant string
		secret   string // secureJsonData key and the value it expands to
		value    string
	}{
		// InfluxQL: database hb, password from the environment.
		{InfluxQLUID, "InfluxQL", "dbName", "hb", "password", "secret"},
		// Flux on InfluxDB 1.8: database/retention policy as the bucket,
		// "user:password" as the token.
		{FluxUID, "Flux", "defaultBucket", "hb/autogen", "token", "hb:secret"},
	} {
		t.Run(tc.uid, func(t *testing.T) {
			ds, ok := uids[tc.uid]
			if !ok {
				t.Fatalf("data source %s not provisioned", tc.uid)
			}
			if ds.Type != "influxdb" || ds.Access != "proxy" {
				t.Errorf("type %q access %q, want influxdb proxy", ds.Type, ds.Access)
			}
			if got := expandLikeGrafana(ds.URL, env); got != env["HBCTL_INFLUX_URL"] {
				t.Errorf("url expands to %q, want $HBCTL_INFLUX_URL", got)
			}
			if got := ds.JSONData["version"]; got != tc.version {
				t.Errorf("jsonData.version %v, want %s", got, tc.version)
			}
			if got := ds.JSONData[tc.jsonKey]; got != tc.jsonWant {
				t.Errorf("jsonData.%s %v, want %s", tc.jsonKey, got, tc.jsonWant)
			}
			if got := expandLikeGrafana(ds.SecureJSONData[tc.secret], env); got != tc.value {
				t.Errorf("secureJsonData.%s expands to %q, want %q", tc.secret, got, tc.value)
			}
		})
	}
	if got := expandLikeGrafana(uids[InfluxQLUID].User, env); got != "hb" {
		t.Errorf("InfluxQL user expands to %q, want $HBCTL_INFLUX_USER", got)
	}
}

func TestDashboardProvider(t *testing.T) {
	var f providersFile
	loadYAML(t, "provisioning/dashboards/hbctl.yaml", &f)
	if f.APIVersion != 1 || len(f.Providers) != 1 {
		t.Fatalf("want apiVersion 1 and one provider, got %+v", f)
	}
	p := f.Providers[0]
	if p.Type != "file" || p.Folder == "" {
		t.Errorf("provider %+v: want type file into a folder", p)
	}
	dir, err := filepath.Abs(DashboardDir)
	if err != nil {
		t.Fatal(err)
	}
	got := expandLikeGrafana(p.Options.Path, map[string]string{"HBCTL_DASHBOARDS_DIR": dir})
	if got != dir {
		t.Fatalf("path expands to %q, want $HBCTL_DASHBOARDS_DIR", got)
	}
	// Grafana loads every .json under the path: only dashboards may be there.
	entries, err := os.ReadDir(got)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("%s: Grafana would descend into %s", got, e.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(got, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseDashboard(b); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
		n++
	}
	if n != len(dashboardFiles(t)) {
		t.Errorf("%d files in %s, %d embedded", n, got, len(dashboardFiles(t)))
	}
}

// TestGrafanaEnv runs grafana-env.sh and checks the defaults it fills in
// and that it keeps what the caller set.
func TestGrafanaEnv(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	script, err := filepath.Abs("grafana-env.sh")
	if err != nil {
		t.Fatal(err)
	}
	here := filepath.Dir(script)
	run := func(t *testing.T, env ...string) map[string]string {
		t.Helper()
		cmd := exec.Command(sh, script, "env")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("grafana-env.sh: %v\n%s", err, out)
		}
		got := make(map[string]string)
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				got[k] = v
			}
		}
		return got
	}
	for _, tc := range []struct {
		name string
		env  []string
		want map[string]string
	}{
		// Nothing set: a local InfluxDB without auth, the dashboards beside the script.
		{"defaults", nil, map[string]string{
			"HBCTL_INFLUX_URL":      "http://127.0.0.1:8086",
			"HBCTL_INFLUX_TOKEN":    ":",
			"HBCTL_DASHBOARDS_DIR":  filepath.Join(here, DashboardDir),
			"GF_PATHS_PROVISIONING": filepath.Join(here, "provisioning"),
		}},
		// The caller's values win; the Flux token follows user and password.
		{"caller's values", []string{
			"HBCTL_INFLUX_URL=http://127.0.0.5:9999",
			"HBCTL_INFLUX_USER=hb",
			"HBCTL_INFLUX_PASSWORD=pw",
			"GF_PATHS_PROVISIONING=/etc/grafana/provisioning",
		}, map[string]string{
			"HBCTL_INFLUX_URL":      "http://127.0.0.5:9999",
			"HBCTL_INFLUX_TOKEN":    "hb:pw",
			"GF_PATHS_PROVISIONING": "/etc/grafana/provisioning",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.env...)
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s=%q, want %q", k, got[k], want)
				}
			}
		})
	}
}
