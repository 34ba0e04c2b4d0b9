package influxtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Database is the database Start creates.
const Database = "hb"

// Influx is a running influxd owned by one test.
type Influx struct {
	influxd string
	script  string
	dir     string
	port    int
}

// Start runs influxd for the test and stops it at cleanup.
func Start(t testing.TB) *Influx {
	t.Helper()
	influxd, err := FindInfluxd()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("influxtest: %v (CI must run scripts/influxdb.sh install)", err)
		}
		t.Skipf("influxtest: %v; install it with scripts/influxdb.sh install, or set HBCTL_INFLUXD", err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	i := &Influx{
		influxd: influxd,
		script:  filepath.Join(root, "scripts", "influxdb.sh"),
		dir:     t.TempDir(),
	}
	// The port is free when picked but could be taken before influxd binds
	// it; try a few.
	for attempt := 0; ; attempt++ {
		i.port = freePort(t)
		if err = i.run("start", i.dir, strconv.Itoa(i.port), Database); err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	t.Cleanup(func() {
		if err := i.run("stop", i.dir); err != nil {
			t.Errorf("influxtest: %v", err)
		}
	})
	return i
}

// FindInfluxd returns the influxd binary to use.
func FindInfluxd() (string, error) {
	if p := os.Getenv("HBCTL_INFLUXD"); p != "" {
		if isExec(p) {
			return p, nil
		}
		return "", fmt.Errorf("HBCTL_INFLUXD=%s is not an executable", p)
	}
	if root, err := moduleRoot(); err == nil {
		if p := filepath.Join(root, ".tools", "bin", "influxd"); isExec(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("influxd")
	if err != nil {
		return "", errors.New("influxd not found in $HBCTL_INFLUXD, .tools/bin or PATH")
	}
	return p, nil
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// moduleRoot walks up from the working directory (a package directory in
// tests) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (i *Influx) run(args ...string) error {
	cmd := exec.Command("bash", append([]string{i.script}, args...)...)
	cmd.Env = append(os.Environ(), "INFLUXD="+i.influxd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/influxdb.sh %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// URL is the HTTP address, e.g. http://127.0.0.1:41234.
func (i *Influx) URL() string { return "http://127.0.0.1:" + strconv.Itoa(i.port) }

// Dir holds the config, data, log and PID file.
func (i *Influx) Dir() string { return i.dir }

// PID is the influxd process ID, 0 when stopped.
func (i *Influx) PID() int {
	b, err := os.ReadFile(filepath.Join(i.dir, "influxd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop stops influxd (by its PID) and keeps its data.
func (i *Influx) Stop(t testing.TB) {
	t.Helper()
	if err := i.run("stop", i.dir); err != nil {
		t.Fatalf("influxtest: %v", err)
	}
}

// Restart starts influxd again on the same port and data directory.
func (i *Influx) Restart(t testing.TB) {
	t.Helper()
	if err := i.run("start", i.dir, strconv.Itoa(i.port), Database); err != nil {
		t.Fatalf("influxtest: %v", err)
	}
}

// Series is one series of an InfluxQL result. Numbers are json.Number, so
// integers keep their exact value.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs an InfluxQL statement against the hb database and returns
// every series of its result; an error answer fails the test.
func (i *Influx) Query(t testing.TB, q string) []Series {
	t.Helper()
	ss, err := i.TryQuery(q)
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	return ss
}

// Rows runs q and returns the rows of every series, in order.
func (i *Influx) Rows(t testing.TB, q string) [][]any {
	t.Helper()
	var rows [][]any
	for _, s := range i.Query(t, q) {
		rows = append(rows, s.Values...)
	}
	return rows
}

// WaitRows polls q until it returns at least n rows, failing the test after
// timeout; InfluxDB makes written points visible shortly after the write.
func (i *Influx) WaitRows(t testing.TB, q string, n int, timeout time.Duration) [][]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ss, err := i.TryQuery(q)
		var rows [][]any
		for _, s := range ss {
			rows = append(rows, s.Values...)
		}
		if err == nil && len(rows) >= n {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("influxtest: %q: %d rows after %v, want %d (err %v)", q, len(rows), timeout, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TryQuery runs q, returning an error instead of failing a test.
func (i *Influx) TryQuery(q string) ([]Series, error) {
	form := url.Values{"db": {Database}, "q": {q}, "epoch": {"ns"}}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.PostForm(i.URL()+"/query", form)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: HTTP %d: %w", q, resp.StatusCode, err)
	}
	if body.Error != "" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	var ss []Series
	for _, r := range body.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("query %q: %s", q, r.Error)
		}
		ss = append(ss, r.Series...)
	}
	return ss, nil
}

// Write posts line protocol straight to the hb database (InfluxDB's own
// /write endpoint), for seeding tests without a sink.
func (i *Influx) Write(t testing.TB, lines string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(i.URL()+"/write?db="+Database, "text/plain", bytes.NewBufferString(lines))
	if err != nil {
		t.Fatalf("influxtest: write: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		var msg bytes.Buffer
		msg.ReadFrom(resp.Body)
		t.Fatalf("influxtest: write: HTTP %d: %s", resp.StatusCode, msg.String())
	}
}

// FieldTypes returns the InfluxDB field types (integer, float, string,
// boolean) of a measurement, by SHOW FIELD KEYS.
func (i *Influx) FieldTypes(t testing.TB, measurement string) map[string]string {
	t.Helper()
	types := map[string]string{}
	for _, row := range i.Rows(t, fmt.Sprintf("SHOW FIELD KEYS FROM %q", measurement)) {
		if len(row) == 2 {
			types[fmt.Sprint(row[0])] = fmt.Sprint(row[1])
		}
	}
	return types
}
