package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/server/admin"
)

// FuzzReleaseRequest feeds arbitrary bodies to the admin decoder and the
// range checks: never a panic, and whatever is accepted is in range.
func FuzzReleaseRequest(f *testing.F) {
	for _, s := range []string{
		`{"rate":200,"total":40000,"min_amount":10,"max_amount":309}`,
		`{"rate":200,"total":20000,"recipients":3}`,
		`{"rate":-1}`, `{"rate":1e99}`, `{"total":"x"}`, `{}`, `[]`, `{"rate":1,"total":1}{}`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req SendRequest
		r := httptest.NewRequest("POST", "/v1/send", strings.NewReader(body))
		if !(&Server{}).decodeBody(httptest.NewRecorder(), r, &req) {
			return
		}
		if err := normalizeSend(&req); err != nil {
			if !strings.Contains(err.Error(), ":") {
				t.Fatalf("error names no field: %v", err)
			}
			return
		}
		if req.Rate < 1 || req.Total < 1 || req.Recipients < 1 || req.Recipients > 3 ||
			req.MinAmount < 1 || req.MaxAmount < req.MinAmount || req.MaxAmount < req.Recipients {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzAdminRequest feeds arbitrary methods, paths and bodies to the whole
// admin API, token and all: never a panic or a 500, and a body refused is
// a 4xx that says why.
func FuzzAdminRequest(f *testing.F) {
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/shake", `{"rate":200,"total":40000,"min_amount":10,"max_amount":309}`},
		{"POST", "/v1/send", `{"rate":200,"total":20000,"recipients":3}`},
		{"POST", "/v1/shake", `{"rate":1000000000000,"total":1}`},
		{"POST", "/v1/send", `{"rate":1,"total":1,"recipients":0,"min_amount":-1}`},
		{"POST", "/v1/send", `{"rate":1,"total":1}{"x":1}`},
		{"POST", "/v1/shake", strings.Repeat(" ", 70000) + "{}"},
		{"GET", "/v1/stats", ""},
		{"GET", "/v1/ledger", ""},
		{"DELETE", "/v1/shake", ""},
		{"POST", "/v1/../v1/shake", `{}`},
	} {
		f.Add(c.method, c.path, c.body)
	}
	s, err := New(Config{DataDir: f.TempDir(), Seed: 1, Sets: 4, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	h := s.Admin()
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n?#%") || method == "" || strings.ContainsAny(method, " \t\r\n/") {
			return // not a request line net/http would pass on
		}
		req := httptest.NewRequest("GET", "/", strings.NewReader(body))
		req.Method, req.URL.Path = method, path
		req.Header.Set("Authorization", "Bearer "+s.Token())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusBadRequest || rec.Code == http.StatusRequestEntityTooLarge {
			var e admin.ErrorBody
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Fatalf("%s %s %q: %d without saying why: %s", method, path, body, rec.Code, rec.Body)
			}
		}
	})
}
