package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"testing"

	"gopkg.in/yaml.v3"
)

// The parts of Grafana's dashboard JSON the checks read; everything else is
// left to the schema check in schema/.
type dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	SchemaVersion int        `json:"schemaVersion"`
	Panels        []panel    `json:"panels"`
	Templating    templating `json:"templating"`
}

type templating struct {
	List []variable `json:"list"`
}

type panel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *dsRef   `json:"datasource"`
	GridPos    gridPos  `json:"gridPos"`
	Interval   string   `json:"interval"`
	Targets    []target `json:"targets"`
	Collapsed  bool     `json:"collapsed"`
	Panels     []panel  `json:"panels"` // a row's panels when collapsed
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type target struct {
	RefID        string `json:"refId"`
	Datasource   *dsRef `json:"datasource"`
	Query        string `json:"query"`
	RawQuery     bool   `json:"rawQuery"`
	ResultFormat string `json:"resultFormat"`
	Alias        string `json:"alias"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Datasource *dsRef `json:"datasource"`
	Query      string `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
}

// allPanels returns the dashboard's panels with the panels of collapsed rows.
func (d *dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

func (d *dashboard) variable(name string) (variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return variable{}, false
}

// dashboardFiles lists the dashboard JSON files shipped in Files.
func dashboardFiles(t testing.TB) []string {
	t.Helper()
	names, err := fs.Glob(Files(), path.Join(DashboardDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no dashboards under %s", DashboardDir)
	}
	return names
}

func parseDashboard(b []byte) (*dashboard, error) {
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parse dashboard: %w", err)
	}
	return &d, nil
}

func loadDashboards(t testing.TB) map[string]*dashboard {
	t.Helper()
	out := make(map[string]*dashboard)
	for _, name := range dashboardFiles(t) {
		b, err := fs.ReadFile(Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseDashboard(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[path.Base(name)] = d
	}
	return out
}

// The provisioning files, as far as the checks read them.
type datasourcesFile struct {
	APIVersion  int          `yaml:"apiVersion"`
	Datasources []datasource `yaml:"datasources"`
}

type datasource struct {
	Name           string            `yaml:"name"`
	UID            string            `yaml:"uid"`
	Type           string            `yaml:"type"`
	Access         string            `yaml:"access"`
	URL            string            `yaml:"url"`
	User           string            `yaml:"user"`
	JSONData       map[string]any    `yaml:"jsonData"`
	SecureJSONData map[string]string `yaml:"secureJsonData"`
}

type providersFile struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Folder  string `yaml:"folder"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func loadYAML(t testing.TB, name string, v any) {
	t.Helper()
	b, err := fs.ReadFile(Files(), name)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadDatasources(t testing.TB) map[string]datasource {
	t.Helper()
	var f datasourcesFile
	loadYAML(t, "provisioning/datasources/hbctl.yaml", &f)
	out := make(map[string]datasource)
	for _, ds := range f.Datasources {
		if _, dup := out[ds.UID]; dup {
			t.Fatalf("data source uid %q provisioned twice", ds.UID)
		}
		out[ds.UID] = ds
	}
	return out
}
