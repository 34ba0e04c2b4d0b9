package telemetry

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var ts = time.Unix(1700000000, 123456789)

func TestAppendLineProtocol(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Point
		want string
	}{
		{"typical", Point{MeasRequests, Tags("role", "agent", "host", "h01", "cmd", "shake"),
			[]Field{Int("sent", 30000), Int("received", 29998)}, ts},
			"hb_requests,cmd=shake,host=h01,role=agent sent=30000i,received=29998i 1700000000123456789\n"},
		// Every kind, with floats in the shortest form that reads back exactly.
		{"kinds", Point{"m", nil, []Field{Float("f", 0.1), Float("g", 3), Float("e", 1e21),
			String("s", `say "hi" \o/`), Bool("b", true), Bool("c", false), Uint("u", math.MaxUint64)}, ts},
			`m f=0.1,g=3,e=1e+21,s="say \"hi\" \\o/",b=true,c=false,u=9223372036854775807i 1700000000123456789` + "\n"},
		// Commas, spaces and equals signs are escaped where InfluxDB needs it.
		{"escapes", Point{"my m,x=1", Tags("k ey", "v=a,l ue"), []Field{Int("f,=x", 1)}, ts},
			`my\ m\,x=1,k\ ey=v\=a\,l\ ue f\,\=x=1i 1700000000123456789` + "\n"},
		// NaN and Inf would make InfluxDB reject the whole batch: left out.
		{"nan", Point{"m", nil, []Field{Float("a", math.NaN()), Int("b", 1), Float("c", math.Inf(-1))}, ts},
			"m b=1i 1700000000123456789\n"},
		// An empty tag value is left out, as InfluxDB does.
		{"emptytag", Point{"m", Tags("a", "", "b", "x"), []Field{Int("v", 1)}, ts}, "m,b=x v=1i 1700000000123456789\n"},
		// No time: the server assigns one.
		{"notime", Point{"m", nil, []Field{Int("v", -1)}, time.Time{}}, "m v=-1i\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendLineProtocol([]byte("prefix|"), &tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix|"+tc.want {
				t.Fatalf("got  %q\nwant %q", got, "prefix|"+tc.want)
			}
		})
	}
}

func TestAppendLineProtocolRefuses(t *testing.T) {
	for name, p := range map[string]Point{
		"no measurement":       {"", nil, []Field{Int("v", 1)}, ts},
		"comment measurement":  {"#m", nil, []Field{Int("v", 1)}, ts},
		"no fields":            {"m", nil, nil, ts},
		"only NaN":             {"m", nil, []Field{Float("v", math.NaN())}, ts},
		"backslash tag value":  {"m", Tags("k", `a\`), []Field{Int("v", 1)}, ts},
		"newline in tag":       {"m", Tags("k", "a\nb"), []Field{Int("v", 1)}, ts},
		"newline in string":    {"m", nil, []Field{String("v", "a\nb")}, ts},
		"empty field key":      {"m", nil, []Field{Int("", 1)}, ts},
		"zero value":           {"m", nil, []Field{{Key: "v"}}, ts},
		"backslash field name": {"m", nil, []Field{Int(`v\`, 1)}, ts},
	} {
		got, err := AppendLineProtocol([]byte("keep"), &p)
		if !errors.Is(err, ErrInvalidPoint) || string(got) != "keep" {
			t.Errorf("%s: got %q, %v; want ErrInvalidPoint and dst unchanged", name, got, err)
		}
	}
}

func pointsEqual(a, b []Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Measurement != y.Measurement || !x.Time.Equal(y.Time) || len(x.Tags) != len(y.Tags) || len(x.Fields) != len(y.Fields) {
			return false
		}
		for j := range x.Tags {
			if x.Tags[j] != y.Tags[j] {
				return false
			}
		}
		for j := range x.Fields {
			if x.Fields[j].Key != y.Fields[j].Key || !x.Fields[j].Value.Equal(y.Fields[j].Value) {
				return false
			}
		}
	}
	return true
}

func TestLineProtocolRoundTrip(t *testing.T) {
	ps := []Point{
		LatencyPoint("all", "shake", Percentiles{P50: 0.123, P90: 1.5, P99: 12, P999: 40.96, Max: 59999.999, Count: 60000}, ts),
		{MeasNet, Tags("host", "h 01", "interface", "eth0"), []Field{Uint("bytes_sent", 1<<40), Int("drop_in", 0)}, ts.Add(time.Second)},
		{"odd=name", Tags("k,=", "v,= x"), []Field{String("s", `q"\`), Bool("b", false), Float("neg", -0.5)}, time.Time{}},
	}
	var buf []byte
	for i := range ps {
		var err error
		if buf, err = AppendLineProtocol(buf, &ps[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadLineProtocol(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	if !pointsEqual(got, ps) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, ps)
	}
}

func TestReadLineProtocol(t *testing.T) {
	in := "# a comment\n\n  \ncpu,host=a,cpu=cpu-total usage_idle=99.5,n=3u,ok=T,s=\"x y\" 1\r\n   m v=1i\n"
	ps, err := ReadLineProtocol(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{
		// Tags come back sorted; 3u becomes an int64.
		{"cpu", Tags("cpu", "cpu-total", "host", "a"), []Field{Float("usage_idle", 99.5), Int("n", 3), Bool("ok", true), String("s", "x y")}, time.Unix(0, 1)},
		{"m", nil, []Field{Int("v", 1)}, time.Time{}},
	}
	if !pointsEqual(ps, want) {
		t.Fatalf("got %+v\nwant %+v", ps, want)
	}
}

func TestReadLineProtocolErrors(t *testing.T) {
	for _, line := range []string{
		"m",                         // no fields
		"m ",                        // empty field set
		",t=1 v=1",                  // no measurement
		"m,t v=1",                   // tag without value
		"m,t= v=1",                  // empty tag value
		"m,t=a=b v=1",               // unescaped = in tag value
		"m,t=a,t=b v=1",             // duplicate tag
		"m v",                       // field without value
		"m v=",                      // empty value
		"m v=1x",                    // junk number
		"m v=NaN",                   // not representable
		"m v=Inf",                   // not representable
		"m v=1e999",                 // out of range
		"m v=99999999999999999999i", // int overflow
		"m v=-1u",                   // negative unsigned
		`m v="abc`,                  // unterminated string
		`m v="a"b`,                  // junk after string
		"m v=1 12x",                 // bad timestamp
		"m v=1 +12",                 // signed timestamp
		"m v=1 1 2",                 // two timestamps
	} {
		_, err := ReadLineProtocol(strings.NewReader("ok v=1i\n" + line + "\n"))
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: got %v, want a syntax error on line 2", line, err)
		}
	}
}

// FuzzReadLineProtocol: the reader never panics, and whatever it accepts
// and the encoder can write reads back identically.
func FuzzReadLineProtocol(f *testing.F) {
	for _, s := range []string{
		"hb_requests,cmd=shake,host=h01,role=agent sent=30000i,received=29998i 1700000000123456789\n",
		"cpu,cpu=cpu-total,host=a usage_idle=99.5,usage_user=0.25 1\n",
		`m\ x,k\,=v\=1 s="a \"q\" \\",b=t,u=12u,f=-1.5e-7` + "\n",
		"# comment\n\nm v=1i\nm v=2i 3\n",
		"net,host=h,interface=lo bytes_sent=1i,bytes_recv=2i,packets_sent=3i,packets_recv=4i,err_in=0i,err_out=0i,drop_in=0i,drop_out=0i 1700000000000000000\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ps, err := ReadLineProtocol(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf []byte
		var kept []Point
		for i := range ps {
			for _, tg := range ps[i].Tags {
				if tg.Value == "" {
					t.Fatalf("empty tag value accepted from %q", in)
				}
			}
			out, err := AppendLineProtocol(buf, &ps[i])
			if err != nil {
				continue // names InfluxDB cannot round-trip
			}
			buf = out
			kept = append(kept, ps[i])
		}
		again, err := ReadLineProtocol(bytes.NewReader(buf))
		if err != nil {
			t.Fatalf("re-reading %q (from %q): %v", buf, in, err)
		}
		if !pointsEqual(again, kept) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", in, again, kept)
		}
	})
}
