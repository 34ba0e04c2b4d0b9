package coordinator

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
)

// Out-of-range rates are refused with 400 naming q on every path: the
// plan's first second (right after connect) and later seconds; the plan
// is left as it was.
func TestQPSRangeOnEveryPath(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 1000)
	if code := h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 1000}, nil); code != 200 {
		t.Fatalf("connect: HTTP %d", code)
	}
	before, _ := h.assignment("h01", 0)
	for _, c := range []struct {
		name string
		req  api.QPSRequest
	}{
		{"first second, 10^12", api.QPSRequest{Q: 1e12, DelayMillis: 1}},
		{"first second, 9e18", api.QPSRequest{Q: 9e18, DelayMillis: 1}},
		{"later, 10^12", api.QPSRequest{Q: 1e12, DelayMillis: 5000}},
		{"later, 9e18", api.QPSRequest{Q: 9e18, DelayMillis: 5000}},
		{"negative", api.QPSRequest{Q: -5}},
	} {
		var e api.Error
		if code := h.do(testToken, "POST", api.PathQPS, c.req, &e); code != http.StatusBadRequest || !strings.HasPrefix(e.Error, "q: ") {
			t.Errorf("%s: HTTP %d %q; want 400 naming q", c.name, code, e.Error)
		}
	}
	for _, req := range []api.QPSRequest{{Q: 1, DelayMillis: math.MaxInt64}, {Q: 1, AtMillis: math.MaxInt64}, {Q: 1, AtMillis: -1}} {
		var e api.Error
		if code := h.do(testToken, "POST", api.PathQPS, req, &e); code != http.StatusBadRequest {
			t.Errorf("%+v: HTTP %d %q; want 400", req, code, e.Error)
		}
	}
	var g api.QPSResponse
	h.do(testToken, "GET", api.PathQPS, nil, &g)
	if len(g.Segments) != 1 || g.Segments[0].Q != 0 || g.PlanID != before.Plan.ID {
		t.Fatalf("a refused rate changed the plan: %+v", g)
	}
}

// Agent names and capacities out of their rules are refused with 400
// naming the field.
func TestRegisterLimits(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		req   api.RegisterRequest
		field string
	}{
		{api.RegisterRequest{Name: "a/b", Capacity: 10}, "name: "},
		{api.RegisterRequest{Name: "", Capacity: 10}, "name: "},
		{api.RegisterRequest{Name: "..", Capacity: 10}, "name: "},
		{api.RegisterRequest{Name: strings.Repeat("x", 65), Capacity: 10}, "name: "},
		{api.RegisterRequest{Name: "h01", Capacity: 1e18}, "capacity: "},
		{api.RegisterRequest{Name: "h01", Capacity: 0}, "capacity: "},
	} {
		var e api.Error
		if code := h.do(testToken, "POST", api.PathRegister, c.req, &e); code != http.StatusBadRequest || !strings.HasPrefix(e.Error, c.field) {
			t.Errorf("%+v: HTTP %d %q; want 400 naming %s", c.req, code, e.Error, c.field)
		}
	}
	if st := h.status(); len(st.Agents) != 0 {
		t.Fatalf("refused registrations registered %+v", st.Agents)
	}
	h.register("h-01.lab_2", api.MaxCapacity)
}

// Split refuses capacities beyond the bound instead of overflowing into
// overlapping ranges.
func TestSplitBounds(t *testing.T) {
	if _, err := Split(10, []int{1e18, 10, 10}); err == nil {
		t.Fatal("capacity 10^18 accepted")
	}
	r, err := Split(api.MaxUsers, []int{api.MaxCapacity, api.MaxCapacity})
	if err == nil {
		t.Fatalf("more users than capacity split: %v", r)
	}
	r, err = Split(30, []int{api.MaxCapacity, 10, 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(r); i++ {
		if r[i].Lo != r[i-1].Hi {
			t.Fatalf("ranges not contiguous: %v", r)
		}
	}
}

// connect refuses bad servers, admin URLs, tokens and counts before it
// changes anything, naming the field.
func TestConnectChecksTargets(t *testing.T) {
	h := newHarness(t)
	h.register("h01", 100)
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(admin.Close)
	good := api.Admin{URL: admin.URL, Token: "good"}
	for _, c := range []struct {
		req   api.ConnectRequest
		field string
	}{
		{api.ConnectRequest{Servers: []string{"not a host"}, Users: 10}, "servers[0]: "},
		{api.ConnectRequest{Servers: []string{"127.0.0.1:0"}, Users: 10}, "servers[0]: "},
		{api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10, Rate: -1}, "rate: "},
		{api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 1 << 40}, "users: "},
		{api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10, Admins: []api.Admin{{URL: "ftp://x", Token: "good"}}}, "admins[0].url: "},
		{api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10, Admins: []api.Admin{{URL: admin.URL, Token: "bad"}}}, "admins[0].token: "},
		{api.ConnectRequest{Servers: []string{"127.0.0.1:1", "127.0.0.1:2"}, Users: 10, Admins: []api.Admin{good}}, "admins: "},
		{api.ConnectRequest{Servers: []string{"127.0.0.1:1"}, Users: 10, Admins: []api.Admin{{URL: "http://127.0.0.1:1", Token: "good"}}}, "admins[0].url: "},
	} {
		var e api.Error
		if code := h.do(testToken, "POST", api.PathConnect, c.req, &e); code != http.StatusBadRequest || !strings.HasPrefix(e.Error, c.field) {
			t.Errorf("%+v: HTTP %d %q; want 400 naming %s", c.req, code, e.Error, c.field)
		}
	}
	if st := h.status(); st.Plan.ID != 0 || st.Plan.Active {
		t.Fatalf("a refused connect started plan %+v", st.Plan)
	}
	// One admin per server; an empty URL says that server has none.
	if code := h.do(testToken, "POST", api.PathConnect, api.ConnectRequest{Servers: []string{"127.0.0.1:1", "127.0.0.1:2"}, Users: 10, Admins: []api.Admin{good, {}}}, nil); code != 200 {
		t.Fatalf("good connect: HTTP %d", code)
	}
}
