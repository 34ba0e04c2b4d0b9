package dashboards

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/telemetry/influxtest"
)

// pointSource returns line protocol (nanosecond timestamps) for a few seconds of
// every measurement the dashboards read, ending just before now. The query
// test runs on whatever it returns: today a synthetic run, later the points
// of a real run through the coordinator.
type pointSource func(now time.Time) string

// syntheticRun is a small run: agents h01 and h02 against server srv01,
// SHAKE and OPEN, shake and send envelopes, two interfaces per host.
func syntheticRun(now time.Time) string {
	var b strings.Builder
	line := func(s int64, format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		fmt.Fprintf(&b, " %d\n", s*int64(time.Second))
	}
	agents := []string{"h01", "h02"}
	cmds := []string{"shake", "open"}
	end := now.Unix()
	const seconds = 6
	for i := int64(0); i < seconds; i++ {
		s := end - seconds + i
		for ai, h := range agents {
			k := int64(ai + 1)
			for _, c := range cmds {
				line(s, "hb_requests,cmd=%s,host=%s,role=agent sent=%di,received=%di,got=%di,none=%di,overloaded=%di,missed=0i,skipped=0i,unanswered=%di,lost=0i",
					c, h, 1000*k, 998*k, 10*k, 980*k, 8*k, 2*k)
				line(s, "hb_latency,cmd=%s,host=%s p50=%g,p90=%g,p99=%g,p999=%g,max=%g,count=%di",
					c, h, 1.2*float64(k), 2.5, 7.9, 15.1, 31.0, 998*k)
			}
			line(s, "hb_connections,host=%s,role=agent established=%di,target=60000i,failed=%di,closed=%di", h, 59990+k, k, i)
			line(s, "hb_schedule,host=%s target_qps=30000,lateness_p99=%g,clock_offset=%g,clock_delay=%g", h, 0.4*float64(k), -0.12*float64(k), 0.3)
			for ii, iface := range []string{"lo", "eth0"} {
				n := (i + 1) * 1000 * k * int64(ii+1)
				line(s, "net,host=%s,interface=%s bytes_sent=%di,bytes_recv=%di,packets_sent=%di,packets_recv=%di,err_in=0i,err_out=0i,drop_in=%di,drop_out=0i",
					h, iface, 64*n, 60*n, n, n-i, i)
			}
			line(s, "cpu,cpu=cpu-total,host=%s usage_user=%g,usage_system=%g,usage_idle=%g,usage_iowait=0.1", h, 30.5, 20.25, 49.15)
			line(s, "mem,host=%s total=25769803776i,available=%di,used=%di,used_percent=%g", h, 20000000000-i, 5769803776+i, 22.4)
		}
		for _, c := range cmds {
			line(s, "hb_requests,cmd=%s,host=srv01,role=server sent=2994i,received=3000i", c)
			line(s, "hb_requests,cmd=%s,host=all,role=total sent=3000i,received=2994i", c)
			line(s, "hb_latency,cmd=%s,host=all p50=1.3,p90=2.6,p99=8.1,p999=15.9,max=31,count=2994i", c)
		}
		line(s, "hb_connections,host=srv01,role=server established=119983i,target=120000i,failed=0i,closed=%di", i)
		line(s, "hb_envelopes,kind=shake,role=server issued=200i,granted=30i,opened=0i,amount=7500i")
		line(s, "hb_envelopes,kind=shake,role=agent received=30i,amount=7500i")
		line(s, "hb_envelopes,kind=send,role=server issued=200i,granted=0i,opened=600i,amount=60000i")
		line(s, "hb_envelopes,kind=send,role=agent received=600i,opened=600i,amount=60000i")
	}
	return b.String()
}

// TestQueriesAgainstInfluxDB writes a run's points into a real InfluxDB and
// runs every template variable and panel query the way Grafana would expand
// it, first with every variable on All, then with one concrete value each.
func TestQueriesAgainstInfluxDB(t *testing.T) {
	testQueries(t, influxtest.Start(t), syntheticRun)
}

func testQueries(t *testing.T, ix *influxtest.Influx, source pointSource) {
	if db, _ := loadDatasources(t)[InfluxQLUID].JSONData["dbName"].(string); db != influxtest.Database {
		t.Fatalf("provisioned InfluxQL data source reads database %q, telemetry writes %q", db, influxtest.Database)
	}
	ix.Write(t, source(time.Now()))
	for name, d := range loadDashboards(t) {
		t.Run(name, func(t *testing.T) {
			all := make(map[string]string)
			for _, v := range d.Templating.List {
				all[v.Name] = v.AllValue
			}
			// Variables in order, so one may depend on the ones before it
			// (interface on host), as Grafana resolves them.
			concrete := make(map[string]string)
			for _, v := range d.Templating.List {
				values, err := tagValues(ix, expandQuery(v.Query, all))
				if err != nil || len(values) == 0 {
					t.Fatalf("variable %s: %q: %v, values %v", v.Name, v.Query, err, values)
				}
				concrete[v.Name] = regexp.QuoteMeta(values[0])
			}
			t.Logf("concrete values: %v", concrete)
			for _, p := range d.allPanels() {
				for _, tg := range p.Targets {
					for _, vars := range []map[string]string{all, concrete} {
						q := expandQuery(tg.Query, vars)
						if err := expectData(ix, q); err != nil {
							t.Errorf("panel %d %q query %s: %v\n\t%s", p.ID, p.Title, tg.RefID, err, q)
						}
					}
				}
			}
		})
	}
	// The assertion itself: a query for data nobody wrote must fail it.
	t.Run("no data fails", func(t *testing.T) {
		q := expandQuery(`SELECT mean("sent") FROM "hb_requests" WHERE "host" = 'nobody' AND $timeFilter GROUP BY time($__interval) fill(null)`, nil)
		if err := expectData(ix, q); err == nil {
			t.Fatal("a query for a host with no points passed expectData")
		}
	})
	t.Run("flux", func(t *testing.T) {
		bucket, _ := loadDatasources(t)[FluxUID].JSONData["defaultBucket"].(string)
		flux := fmt.Sprintf(`from(bucket: %q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "hb_requests" and r._field == "sent") |> count()`, bucket)
		out, err := post(ix.URL()+"/api/v2/query", []byte(flux), http.StatusOK, http.Header{
			"Content-Type": {"application/vnd.flux"},
			"Accept":       {"application/csv"},
		})
		if err != nil {
			t.Fatalf("flux query on bucket %q: %v", bucket, err)
		}
		if !strings.Contains(string(out), "hb_requests") {
			t.Fatalf("flux query on bucket %q returned no hb_requests rows:\n%s", bucket, out)
		}
	})
}

// expandQuery does Grafana's part: the time filter, the interval (the
// panels' 1s minimum) and template variables with their regex values.
func expandQuery(q string, vars map[string]string) string {
	return reVarUse.ReplaceAllStringFunc(q, func(m string) string {
		name := reVarUse.FindStringSubmatch(m)[1]
		switch name {
		case "timeFilter":
			return "time >= now() - 1h AND time <= now()"
		case "__interval":
			return "1s"
		case "__interval_ms":
			return "1000"
		}
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// expectData wants at least one series with at least one non-null value.
func expectData(ix *influxtest.Influx, q string) error {
	series, err := ix.TryQuery(q)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("no series")
	}
	for _, s := range series {
		for _, row := range s.Values {
			for i, v := range row {
				if s.Columns[i] != "time" && v != nil {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("%d series, all values null", len(series))
}

// tagValues runs SHOW TAG VALUES and returns the values, sorted.
func tagValues(ix *influxtest.Influx, q string) ([]string, error) {
	series, err := ix.TryQuery(q)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range series {
		for _, row := range s.Values {
			if len(row) == 2 {
				if v, ok := row[1].(string); ok {
					out = append(out, v)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// post sends body to u and returns the response body when the status is want.
func post(u string, body []byte, want int, header http.Header) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("POST %s: %s: %s", u, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// TestExportedQueriesMatch holds the exported Queries and Expand, which the
// end-to-end test runs against a real run's InfluxDB, to what the checks
// here read.
func TestExportedQueriesMatch(t *testing.T) {
	for name, d := range loadDashboards(t) {
		vars, qs, err := Queries(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(vars) != len(d.Templating.List) {
			t.Fatalf("%s: %d variables, the model has %d", name, len(vars), len(d.Templating.List))
		}
		vals := map[string]string{}
		for i, v := range d.Templating.List {
			if vars[i].Name != v.Name || vars[i].Query != v.Query || vars[i].AllValue != v.AllValue {
				t.Errorf("%s: variable %d: %+v, model %+v", name, i, vars[i], v)
			}
			vals[v.Name] = "x" + v.Name
		}
		var want []string
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				want = append(want, tg.Query)
			}
		}
		if len(qs) != len(want) || len(qs) == 0 {
			t.Fatalf("%s: %d queries, the model has %d", name, len(qs), len(want))
		}
		for i, q := range qs {
			if q.Text != want[i] {
				t.Errorf("%s: query %d %q, model %q", name, i, q.Text, want[i])
			}
			if got, exp := Expand(q.Text, vals), expandQuery(q.Text, vals); got != exp {
				t.Errorf("%s: Expand %q, expandQuery %q", name, got, exp)
			}
		}
	}
}
