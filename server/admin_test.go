package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/admin"
	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAdminAuth(t *testing.T) {
	s, _ := startServer(t, Config{})
	url := startAdmin(t, s)
	if code, _ := call(t, "GET", url+"/healthz", "", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	for _, tok := range []string{"", "wrong", s.Token() + "x"} {
		for _, ep := range []struct{ method, path, body string }{
			{"POST", "/v1/shake", `{"rate":10,"total":10}`},
			{"POST", "/v1/send", `{"rate":10,"total":10}`},
			{"GET", "/v1/stats", ""},
			{"GET", "/v1/ledger", ""},
			{"GET", "/v1/users", ""},
		} {
			if code, _ := call(t, ep.method, url+ep.path, tok, ep.body); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d", ep.method, ep.path, tok, code)
			}
		}
	}
	// Nothing changed.
	st := s.Stats()
	if st.Shake.Issued != 0 || st.Releasing.Shake || st.Releasing.Send {
		t.Fatalf("unauthorized request changed state: %+v", st)
	}
	// The token is kept in the data dir, private.
	fi, err := os.Stat(s.TokenFile())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
}

func TestAdminBadRequestsNameTheField(t *testing.T) {
	s, _ := startServer(t, Config{})
	url := startAdmin(t, s)
	cases := []struct {
		path, body, field string
	}{
		{"/v1/shake", `{"rate":0,"total":10}`, "rate"},
		{"/v1/shake", `{"rate":-5,"total":10}`, "rate"},
		{"/v1/shake", `{"rate":10,"total":0}`, "total"},
		{"/v1/shake", `{"rate":10,"total":2000000}`, "total"}, // more than the id space
		{"/v1/shake", `{"rate":10,"total":10,"min_amount":50,"max_amount":20}`, "max_amount"},
		{"/v1/shake", `{"rate":10,"total":10,"min_amount":-1}`, "min_amount"},
		{"/v1/shake", `{"rate":"fast","total":10}`, "rate"},
		{"/v1/shake", `{"rate":10,"total":10,"colour":"red"}`, "colour"},
		{"/v1/send", `{"rate":10,"total":10,"recipients":4}`, "recipients"},
		{"/v1/send", `{"rate":10,"total":10,"recipients":3,"min_amount":1,"max_amount":2}`, "max_amount"},
		{"/v1/send", `{"rate":10,`, ""},
		{"/v1/send", ``, ""},
	}
	for _, c := range cases {
		code, body := call(t, "POST", url+c.path, s.Token(), c.body)
		var e admin.ErrorBody
		json.Unmarshal(body, &e)
		if code != http.StatusBadRequest || e.Field != c.field || e.Error == "" || !strings.Contains(e.Error, c.field) {
			t.Errorf("%s %s: %d %s", c.path, c.body, code, body)
		}
	}
	if st := s.Stats(); st.Releasing.Shake || st.Releasing.Send || st.Shake.Issued != 0 {
		t.Fatalf("bad request started a release: %+v", st.Releasing)
	}
}

func TestAdminReleaseStatsLedgerUsers(t *testing.T) {
	s, addr := startServer(t, Config{})
	url := startAdmin(t, s)
	c := dial(t, addr)
	c.login(3)
	code, body := call(t, "POST", url+"/v1/shake", s.Token(), `{"rate":1000,"total":40,"min_amount":10,"max_amount":309}`)
	if code != http.StatusAccepted {
		t.Fatalf("shake: %d %s", code, body)
	}
	// A second release while one runs is refused, not queued.
	code, body = call(t, "POST", url+"/v1/shake", s.Token(), `{"rate":1,"total":1}`)
	if code != http.StatusConflict && s.Stats().Releasing.Shake {
		t.Fatalf("second shake: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "release done", func() bool { st := s.Stats(); return !st.Releasing.Shake && st.Shake.Issued == 40 })
	var got int
	for i := 0; i < 8; i++ {
		if f := c.shake(); f.Result() == wire.ResultGot {
			got++
		}
	}
	code, body = call(t, "GET", url+"/v1/stats", s.Token(), "")
	var st Stats
	if code != 200 || json.Unmarshal(body, &st) != nil {
		t.Fatalf("stats: %d %s", code, body)
	}
	if st.Shake.Granted != int64(got) || st.Shake.Issued != st.Shake.Granted+st.Shake.Pool || st.Requests.Shake != 8 {
		t.Fatalf("stats %s", body)
	}
	for _, k := range []string{`"shake_per_second":`, `"protocol_errors":`, `"slow_consumers":`, `"pool_amount":`} {
		if !bytes.Contains(body, []byte(k)) {
			t.Errorf("stats lacks %s", k)
		}
	}
	code, body = call(t, "GET", url+"/v1/ledger", s.Token(), "")
	rp, err := ledger.Read(bytes.NewReader(body))
	if code != 200 || err != nil {
		t.Fatalf("ledger: %d %v", code, err)
	}
	var issues, grants int
	for _, r := range rp.Records {
		switch r.Ev {
		case ledger.EvIssue:
			issues++
		case ledger.EvGrant:
			grants++
			if r.UID != 3 {
				t.Fatalf("grant %+v", r)
			}
		}
	}
	if issues != 40 || grants != got {
		t.Fatalf("ledger: %d issues, %d grants (client got %d)", issues, grants, got)
	}
	code, body = call(t, "GET", url+"/v1/users", s.Token(), "")
	sc := bufio.NewScanner(bytes.NewReader(body))
	var users []ledger.ServerUser
	for sc.Scan() {
		var u ledger.ServerUser
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	if code != 200 || len(users) != 1 || users[0] != (ledger.ServerUser{UID: 3, Shake: 8, Got: uint64(got), None: uint64(8 - got)}) {
		t.Fatalf("users: %d %s", code, body)
	}
}

func TestTokenReusedAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s1, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok := s1.Token()
	s1.Close()
	s2, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Token() != tok || len(tok) < 32 || s2.TokenFile() != filepath.Join(dir, TokenName) {
		t.Fatalf("token %q then %q", tok, s2.Token())
	}
}
