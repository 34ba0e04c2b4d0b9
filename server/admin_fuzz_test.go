package server

import (
	"net/http/httptest"
	"strings"
	"testing"
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
		if !decodeBody(httptest.NewRecorder(), r, &req) {
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
