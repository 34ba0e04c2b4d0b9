package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/coordinator/api"
)

// fakeCoordinator answers like a coordinator whose agents hold every user
// at once and send exactly the target every second.
type fakeCoordinator struct {
	mu    sync.Mutex
	calls []string
	users int
	rate  int64
	p99   float64
	fail  map[string]error // call name → error
}

var _ Control = (*fakeCoordinator)(nil)

func (f *fakeCoordinator) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name != "status" {
		f.calls = append(f.calls, name)
	}
	return f.fail[name]
}

func (f *fakeCoordinator) Connect(_ context.Context, r api.ConnectRequest) (api.ConnectResponse, error) {
	f.mu.Lock()
	f.users = r.Users
	f.mu.Unlock()
	return api.ConnectResponse{PlanID: 1, Users: r.Users}, f.call("connect")
}

func (f *fakeCoordinator) SetQPS(_ context.Context, r api.QPSRequest) (api.QPSResponse, error) {
	f.mu.Lock()
	f.rate = r.Q
	f.mu.Unlock()
	return api.QPSResponse{Effective: time.Now().Unix() + 1}, f.call(fmt.Sprintf("qps %d", r.Q))
}

func (f *fakeCoordinator) Shake(_ context.Context, r api.ShakeRequest) (api.ForwardResponse, error) {
	resp := api.ForwardResponse{Started: time.Now().UnixMilli(), Servers: []api.ForwardResult{{Admin: "a", Rate: r.Rate, Total: r.Total}}}
	return resp, f.call("shake")
}

func (f *fakeCoordinator) Send(_ context.Context, r api.SendRequest) (api.ForwardResponse, error) {
	resp := api.ForwardResponse{Started: time.Now().UnixMilli(), Servers: []api.ForwardResult{{Admin: "a", Rate: r.Rate, Total: r.Total}}}
	return resp, f.call("send")
}

func (f *fakeCoordinator) Disconnect(context.Context) (api.DisconnectResponse, error) {
	return api.DisconnectResponse{}, f.call("disconnect")
}

func (f *fakeCoordinator) Status(context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().Unix()
	st := api.Status{Connections: api.Connections{Target: f.users, Established: f.users}}
	// The newest complete second is the one that just ended: every
	// second is at the current rate.
	for t := now - 3; t < now; t++ {
		st.Seconds = append(st.Seconds, api.SecondBrief{T: t, Target: f.rate, Sent: f.rate, Received: f.rate})
	}
	st.Run.Sent = 1000
	st.Run.Shake = api.Percentiles{Count: 1000, P50: 0.1, P90: 0.5, P99: f.p99, Max: 9}
	return st, f.fail["status"]
}

// adminServer is a target server's admin API whose release lasts until
// doneAt.
func adminServer(t *testing.T, token string, doneAt func() time.Time) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.URL.Path != "/v1/stats" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		busy := time.Now().Before(doneAt())
		json.NewEncoder(w).Encode(map[string]any{"releasing": map[string]bool{"shake": busy, "send": busy}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func scenarioFor(t *testing.T, admin, body string) *Scenario {
	t.Helper()
	sc, err := Parse("t.yaml", []byte(fmt.Sprintf("users: 50\ntargets: {servers: [s:1], admins: [%s], admin_token: tok}\n%s", admin, body)))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestRunPasses(t *testing.T) {
	var releaseDone atomic.Int64
	releaseDone.Store(time.Now().Add(400 * time.Millisecond).UnixNano())
	adm := adminServer(t, "tok", func() time.Time { return time.Unix(0, releaseDone.Load()) })
	sc := scenarioFor(t, adm.URL, `
steps:
  - wait_until: connected
  - qps: 1000
  - shake: {rate: 100, total: 10}
  - wait_until: shake_released
  - send: {rate: 100, total: 5, recipients: 3}
  - wait_until: send_released
  - wait: 2s
  - verify: ledger
  - disconnect: true
thresholds:
  - shake.p99 < 50ms
  - qps_error < 1%
  - ledger: reconciled
`)
	fc := &fakeCoordinator{p99: 1.5}
	verified := 0
	var out bytes.Buffer
	res, err := Run(context.Background(), sc, Config{
		Control: fc,
		Verify: func(context.Context) (*VerifyResult, error) {
			verified++
			return &VerifyResult{Verdict: "reconciled"}, nil
		},
		Out:       &out,
		PollEvery: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if want := "connect,qps 1000,shake,send,disconnect"; strings.Join(fc.calls, ",") != want || verified != 1 {
		t.Errorf("calls %v (verified %d), want %s", fc.calls, verified, want)
	}
	// The shake's own schedule is 100 ms; the server said it was busy
	// for 400 ms: the wait honoured the server.
	if time.Since(time.Unix(0, releaseDone.Load())) < 0 {
		t.Errorf("wait_until shake_released returned while the server was releasing")
	}
	if res.ExitCode() != ExitPassed || !res.Passed() || len(res.Outcomes) != 3 {
		t.Fatalf("exit %d outcomes %+v", res.ExitCode(), res.Outcomes)
	}
	var sum bytes.Buffer
	res.WriteSummary(&sum)
	for _, want := range []string{"PASS  shake.p99 < 50ms", "measured 1.500ms", "PASS  ledger: reconciled", "verdict: PASSED"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if !strings.Contains(out.String(), "step 4/9 (line 8): wait_until shake_released") {
		t.Errorf("step log:\n%s", out.String())
	}
}

func TestRunVerdicts(t *testing.T) {
	adm := adminServer(t, "tok", time.Now)
	verify := func(v string, n int64) VerifyFunc {
		return func(context.Context) (*VerifyResult, error) { return &VerifyResult{Verdict: v, Discrepancies: n}, nil }
	}
	tests := []struct {
		name     string
		steps    string
		verify   VerifyFunc
		exit     int
		failures string
	}{
		// a latency threshold that cannot pass: exit 1, named with its value
		{"threshold", "steps:\n  - qps: 10\nthresholds:\n  - shake.p99 < 0ms\n", nil, ExitFailed, "shake.p99 < 0ms (measured 2.000ms)"},
		// discrepancies fail the run even without a ledger threshold
		{"discrepancies", "steps:\n  - verify: ledger\n", verify("discrepancies", 3), ExitFailed, "verify ledger: discrepancies (3 discrepancies)"},
		// could not verify: exit 2, the ledger threshold does not turn it into 1
		{"incomplete", "steps:\n  - verify: ledger\nthresholds:\n  - ledger: reconciled\n", verify("incomplete", 0), ExitUnverified, "incomplete"},
		// but another failed threshold does
		{"incomplete and slow", "steps:\n  - verify: ledger\nthresholds:\n  - ledger: reconciled\n  - shake.max < 1ms\n", verify("incomplete", 0), ExitFailed, "shake.max < 1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), scenarioFor(t, adm.URL, tt.steps), Config{
				Control: &fakeCoordinator{p99: 2}, Verify: tt.verify, PollEvery: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode() != tt.exit || !strings.Contains(strings.Join(res.Failures(), "; "), tt.failures) {
				t.Errorf("exit %d failures %q; want %d and %q", res.ExitCode(), res.Failures(), tt.exit, tt.failures)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	adm := adminServer(t, "tok", time.Now)
	refused := errors.New("refused")
	tests := []struct {
		name  string
		steps string
		fail  map[string]error
		cfg   func(*Config)
		want  string
	}{
		// a refused connect stops before any step
		{"connect", "steps:\n  - qps: 1\n", map[string]error{"connect": refused}, nil, "connect: refused"},
		// a refused shake names its step and line
		{"shake", "steps:\n  - qps: 1\n  - shake: {rate: 1, total: 1}\n", map[string]error{"shake": refused}, nil, "step 2 (line 5) shake 1/s total 1: refused"},
		// wait_until a release that never started
		{"no release", "steps:\n  - wait_until: send_released\n", nil, nil, "no send step ran"},
		// verify without a verifier
		{"no verifier", "steps:\n  - verify: ledger\n", nil, nil, "cannot verify"},
		// a verifier that fails
		{"verify error", "steps:\n  - verify: ledger\n", nil, func(c *Config) {
			c.Verify = func(context.Context) (*VerifyResult, error) { return nil, refused }
		}, "verify ledger: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Control: &fakeCoordinator{fail: tt.fail}, PollEvery: 50 * time.Millisecond}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			_, err := Run(context.Background(), scenarioFor(t, adm.URL, tt.steps), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}

	// A server that keeps releasing past the step's timeout.
	busy := adminServer(t, "tok", func() time.Time { return time.Now().Add(time.Hour) })
	sc := scenarioFor(t, busy.URL, "steps:\n  - shake: {rate: 100, total: 1}\n  - {wait_until: shake_released, timeout: 300ms}\n")
	if _, err := Run(context.Background(), sc, Config{Control: &fakeCoordinator{}}); err == nil || !strings.Contains(err.Error(), "still releasing shake") {
		t.Fatalf("busy server: %v", err)
	}

	// Cancelled mid-wait: Run returns promptly with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	sc = scenarioFor(t, adm.URL, "steps:\n  - wait: 1h\n")
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, sc, Config{Control: &fakeCoordinator{}})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestCoordinatorVerify(t *testing.T) {
	env, uid := uint32(7), uint32(3)
	resp := &api.VerifyResponse{Report: &checks.Report{
		Verdict:           checks.VerdictDiscrepancies,
		DiscrepancyCounts: map[checks.Kind]uint64{"grant_missing_client": 2},
		Discrepancies:     []checks.Discrepancy{{Kind: "grant_missing_client", Server: "s:1", Env: &env, UID: &uid, ServerValue: 5}},
	}, ExitCode: 1, Problems: []string{"agent a03 uploaded late"}}
	v := CoordinatorVerify(verifierFunc(func(context.Context, api.VerifyRequest) (*api.VerifyResponse, error) { return resp, nil }), api.VerifyRequest{})
	got, err := v(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Verdict != "discrepancies" || got.Discrepancies != 2 ||
		!strings.Contains(got.Summary, "grant_missing_client server=s:1 env=7 uid=3") || !strings.Contains(got.Summary, "uploaded late") {
		t.Fatalf("%+v", got)
	}
	// Nothing reconciled at all: incomplete.
	v = CoordinatorVerify(verifierFunc(func(context.Context, api.VerifyRequest) (*api.VerifyResponse, error) {
		return &api.VerifyResponse{ExitCode: 2, Problems: []string{"server down"}}, nil
	}), api.VerifyRequest{})
	if got, _ := v(context.Background()); got.Verdict != "incomplete" {
		t.Fatalf("no report: %+v", got)
	}
}

type verifierFunc func(context.Context, api.VerifyRequest) (*api.VerifyResponse, error)

func (f verifierFunc) Verify(ctx context.Context, r api.VerifyRequest) (*api.VerifyResponse, error) {
	return f(ctx, r)
}
