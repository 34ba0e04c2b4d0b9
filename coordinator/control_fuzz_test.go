package coordinator

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
)

// noNetwork fails every request: fuzzed admin URLs must not reach out.
type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in the fuzz test")
}

// FuzzControlRequest feeds arbitrary bodies to every body-taking endpoint
// of the coordinator's API, through its handler with the token: never a
// panic or a 500, every refusal is a 4xx whose message names a field or
// the body, and a refused connect or qps set leaves no plan.
func FuzzControlRequest(f *testing.F) {
	paths := []string{api.PathRegister, api.PathConnect, api.PathQPS, api.PathShake, api.PathSend, api.PathVerify,
		"/v1/agents/h01/heartbeat", "/v1/agents/h01/ledger"}
	for i, body := range []string{
		`{"name":"h01","capacity":100}`,
		`{"name":"a/b","capacity":1000000000000000000}`,
		`{"servers":["127.0.0.1:1"],"users":10}`,
		`{"servers":["not a host"],"users":10,"admins":[{"url":"ftp://x","token":"t"}]}`,
		`{"servers":["127.0.0.1:1","127.0.0.1:2"],"users":10,"admins":[{"url":"http://127.0.0.1:3","token":"t"}]}`,
		`{"q":1000000000000,"delay_ms":1}`,
		`{"q":9000000000000000000}`,
		`{"q":-5,"at_ms":-1}`,
		`{"rate":1000000000000,"total":1}`,
		`{"rate":1,"total":1,"recipients":9}`,
		`{"grace_ms":-1}`,
		`{"seq":1,"windows":[{"t":1}]}`,
		`{"id":1,"full":true}`,
		`{`, `[]`, `null`, ``, `{"users":1e99}`,
	} {
		f.Add(uint8(i), body)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		c, err := New(Config{DataDir: t.TempDir(), Token: testToken, AdminClient: &http.Client{Transport: noNetwork{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		h := c.Handler()
		do := func(path, body string) *httptest.ResponseRecorder {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		// An agent with room, so that connect can get past capacity.
		if rec := do(api.PathRegister, `{"name":"h01","capacity":1000}`); rec.Code != 200 {
			t.Fatalf("register: %d %s", rec.Code, rec.Body)
		}
		path := paths[int(which)%len(paths)]
		if path == api.PathVerify {
			// A verification waits for agents; only its decoding is fuzzed.
			var req api.VerifyRequest
			rec := httptest.NewRecorder()
			if !decode(rec, httptest.NewRequest("POST", path, strings.NewReader(body)), &req) && rec.Code != http.StatusBadRequest {
				t.Fatalf("verify body %q: %d", body, rec.Code)
			}
			return
		}
		rec := do(path, body)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Code != http.StatusConflict && rec.Code != http.StatusNotFound && !strings.Contains(rec.Body.String(), ":") {
			t.Fatalf("POST %s %q: %d without naming what: %s", path, body, rec.Code, rec.Body)
		}
		if (path == api.PathConnect || path == api.PathQPS) && rec.Code/100 != 2 {
			if st := c.Status(); st.Plan.Active && path == api.PathConnect {
				t.Fatalf("refused connect %q started plan %+v", body, st.Plan)
			}
		}
	})
}
