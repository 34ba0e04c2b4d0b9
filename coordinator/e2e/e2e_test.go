package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/admin"
)

var (
	serverLine = regexp.MustCompile(`listening wire=(\S+) admin=(\S+) token_file=(\S+)`)
	coordLine  = regexp.MustCompile(`^coordinator listening http=(\S+) time=(\S+) data_dir=(\S+) token_file=(\S+)`)
)

// run is one test's processes and addresses.
type runEnv struct {
	t          *testing.T
	coordURL   string
	coordDir   string
	adminURL   string
	adminToken string
	wire       string
	serverDir  string
	env        []string // finds and authenticates to the coordinator
}

func (r *runEnv) hb(args ...string) result { return hb(r.t, r.env, args...) }

func (r *runEnv) status() api.Status {
	r.t.Helper()
	res := r.hb("status", "--json")
	if res.code != 0 {
		r.t.Fatalf("status: exit %d: %s", res.code, res.err)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(res.out), &st); err != nil {
		r.t.Fatalf("status --json: %v\n%s", err, res.out)
	}
	return st
}

// serverStats is the server's GET /v1/stats (server/admin).
type serverStats = admin.Stats

func (r *runEnv) serverStats() serverStats {
	r.t.Helper()
	s, err := admin.New(r.adminURL, r.adminToken, nil).Stats(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// seconds indexes status seconds by t.
func seconds(st api.Status) map[int64]api.SecondBrief {
	m := map[int64]api.SecondBrief{}
	for _, s := range st.Seconds {
		m[s.T] = s
	}
	return m
}

// waitComplete waits until second sec is complete in status.
func (r *runEnv) waitComplete(sec int64) api.Status {
	r.t.Helper()
	var st api.Status
	waitFor(r.t, time.Until(time.Unix(sec+10, 0)), fmt.Sprintf("second %d to be complete", sec), func() bool {
		st = r.status()
		n := len(st.Seconds)
		return n > 0 && st.Seconds[n-1].T >= sec
	})
	return st
}

// agentSent reads the per-agent sent counts of the timeline file.
func agentSent(t *testing.T, dir string) map[int64]map[string]int64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "timeline.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int64]map[string]int64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			T      int64                           `json:"t"`
			Event  string                          `json:"event"`
			Agents map[string]struct{ Sent int64 } `json:"agents"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("timeline line %q: %v", sc.Text(), err)
		}
		if l.Event != "" {
			continue
		}
		out[l.T] = map[string]int64{}
		for n, a := range l.Agents {
			out[l.T][n] = a.Sent
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	deadline := time.Now().Add(100 * time.Second)
	tmp := t.TempDir()
	r := &runEnv{t: t, serverDir: filepath.Join(tmp, "server"), coordDir: filepath.Join(tmp, "coord")}

	srv := start(t, "server", nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", r.serverDir)
	m := srv.match(t, serverLine, 15*time.Second)
	r.wire, r.adminURL = m[1], "http://"+m[2]
	tok, err := os.ReadFile(m[3])
	if err != nil {
		t.Fatal(err)
	}
	r.adminToken = strings.TrimSpace(string(tok))

	co := start(t, "coordinator", nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0", "--data-dir", r.coordDir)
	m = co.match(t, coordLine, 15*time.Second)
	r.coordURL = "http://" + m[1]
	r.env = []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + r.coordDir}
	if m[4] != filepath.Join(r.coordDir, "token") {
		t.Fatalf("token file %s", m[4])
	}

	agents := map[string]*proc{}
	for i, name := range []string{"h02", "h03", "h04"} {
		args := []string{"agent", "--name", name, "--bind", fmt.Sprintf("127.0.0.%d", i+2), "--capacity", "1500",
			"--data-dir", filepath.Join(tmp, name)}
		if name == "h04" {
			args = append(args, "--clock-skew", "250ms") // its local clock is a quarter second ahead
		}
		if name == "h03" {
			args = append(args, "--loops", "1", "--connect-rate", "5000") // exact seconds hold whatever the engine's shape
		}
		agents[name] = start(t, name, r.env, args...)
	}
	waitFor(t, 15*time.Second, "three live agents", func() bool {
		n := 0
		for _, a := range r.status().Agents {
			if a.Alive {
				n++
			}
		}
		return n == 3
	})

	t.Run("auth", func(t *testing.T) {
		noTok := []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + filepath.Join(tmp, "nowhere")}
		badTok := append(noTok, "HBCTL_TOKEN=wrong")
		cmds := [][]string{
			{"connect", "--server", r.wire, "--users", "30"},
			{"qps", "set", "100"}, {"qps", "get"},
			{"shake", "--rate", "1", "--total", "1"}, {"send", "--rate", "1", "--total", "1"},
			{"status"}, {"disconnect"},
		}
		for _, env := range [][]string{noTok, badTok} {
			for _, c := range cmds {
				res := hb(t, env, c...)
				if res.code != 3 || !strings.Contains(res.err, "token") {
					t.Errorf("hbctl %v with %v: exit %d, stderr %q; want exit 3 naming the token", c, env[len(env)-1], res.code, res.err)
				}
			}
		}
		if st := r.status(); st.Plan.Active || len(st.Events) != 3 {
			t.Fatalf("refused commands changed something: plan %+v events %+v", st.Plan, st.Events)
		}
	})

	t.Run("agent capacity above the file limit", func(t *testing.T) {
		res := r.hb("agent", "--name", "big", "--capacity", "1000000", "--data-dir", filepath.Join(tmp, "big"))
		if res.code != 2 || !strings.Contains(res.err, "1000000") || !strings.Contains(res.err, "at most") {
			t.Fatalf("exit %d, stderr %q; want a refusal naming the capacity and the limit", res.code, res.err)
		}
	})

	t.Run("connect beyond capacity", func(t *testing.T) {
		res := r.hb("connect", "--server", r.wire, "--users", "5000")
		if res.code == 0 || !strings.Contains(res.err, "500 users short") {
			t.Fatalf("exit %d, stderr %q; want a failure naming the 500 missing users", res.code, res.err)
		}
		if st := r.status(); st.Plan.Active || st.Connections.Target != 0 {
			t.Fatalf("a refused connect changed something: %+v", st.Plan)
		}
	})

	res := r.hb("connect", "--server", r.wire, "--admin", r.adminURL, "--server-data-dir", r.serverDir,
		"--users", "3000", "--wait", "--timeout", "30s")
	if res.code != 0 {
		t.Fatalf("connect: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	if !strings.Contains(res.out, "established 3000/3000") {
		t.Fatalf("connect --wait output:\n%s", res.out)
	}

	setQPS := func(q int, at string) int64 {
		t.Helper()
		res := r.hb("qps", "set", strconv.Itoa(q), "--at", at, "--json")
		if res.code != 0 {
			t.Fatalf("qps set %d: exit %d: %s", q, res.code, res.err)
		}
		var qr api.QPSResponse
		if err := json.Unmarshal([]byte(res.out), &qr); err != nil {
			t.Fatal(err)
		}
		return qr.Effective
	}
	t1 := setQPS(1500, "+1s")
	t2 := setQPS(3000, time.Unix(t1+4, 0).Format(time.RFC3339))
	if t2 != t1+4 {
		t.Fatalf("qps 3000 effective at %d, want %d", t2, t1+4)
	}

	t.Run("exact rate by intended second", func(t *testing.T) {
		st := r.waitComplete(t2 + 2)
		secs := seconds(st)
		for s := t1; s <= t2+2; s++ {
			want := int64(1500)
			if s >= t2 {
				want = 3000
			}
			got, ok := secs[s]
			if !ok || got.Target != want || got.Sent != want {
				t.Errorf("second %d: %+v, want target and sent %d", s, got, want)
			}
		}
		// Every agent switched in the same second: each holds a third of
		// the users, so a third of the rate on either side of t2.
		per := agentSent(t, r.coordDir)
		for _, name := range []string{"h02", "h03", "h04"} {
			before, after := per[t2-1][name], per[t2][name]
			if before < 499 || before > 501 || after < 999 || after > 1001 {
				t.Errorf("%s sent %d in the last old second and %d in the first new one; want 500 and 1000", name, before, after)
			}
		}
		// The server counts arrivals by its own clock: a skewed agent
		// firing in the wrong second would show at the switch.
		arrivals := map[int64]int64{}
		for _, p := range r.serverStats().ShakePerSecond {
			arrivals[p[0]] = p[1]
		}
		for s := t1; s <= t2+2; s++ {
			want := secs[s].Sent
			if d := arrivals[s] - want; d*100 > want || -d*100 > want {
				t.Errorf("second %d: server received %d, agents sent %d (more than 1%% apart)", s, arrivals[s], want)
			}
		}
	})

	t.Run("clock offsets", func(t *testing.T) {
		for _, a := range r.status().Agents {
			want := 0.0
			if a.Name == "h04" {
				want = -250
			}
			if a.OffsetMs < want-5 || a.OffsetMs > want+5 || a.DelayMs <= 0 {
				t.Errorf("agent %s: offset %.3f ms, delay %.3f ms; want offset %.0f±5 ms", a.Name, a.OffsetMs, a.DelayMs, want)
			}
		}
	})

	t.Run("shake and send forwarded", func(t *testing.T) {
		if res := r.hb("shake", "--rate", "200", "--total", "200"); res.code != 0 {
			t.Fatalf("shake: exit %d: %s", res.code, res.err)
		}
		if res := r.hb("send", "--rate", "50", "--total", "20", "--recipients", "3"); res.code != 0 {
			t.Fatalf("send: exit %d: %s", res.code, res.err)
		}
		waitFor(t, 10*time.Second, "the server to release 200 shake and send 20 envelopes", func() bool {
			s := r.serverStats()
			return s.Shake.Issued == 200 && s.Send.Sent == 20
		})
		st := r.status()
		if !hasEvent(st, "shake") || !hasEvent(st, "send") {
			t.Fatalf("phases not on the timeline: %+v", st.Events)
		}
	})

	t.Run("agent killed", func(t *testing.T) {
		killed := time.Now()
		agents["h03"].kill()
		waitFor(t, 4*time.Second, "h03 to be dead", func() bool {
			for _, a := range r.status().Agents {
				if a.Name == "h03" {
					return !a.Alive
				}
			}
			return false
		})
		// The first second that starts 3 s after the kill, and the two
		// after it, hold the full rate from the two agents left.
		first := killed.Add(3*time.Second).Unix() + 1
		if killed.Add(3*time.Second).Nanosecond() == 0 {
			first--
		}
		st := r.waitComplete(first + 2)
		secs := seconds(st)
		for s := first; s <= first+2; s++ {
			if got := secs[s]; got.Sent != 3000 || got.Target != 3000 {
				t.Errorf("second %d (%.1f s after the kill): %+v, want 3000 sent", s, time.Unix(s, 0).Sub(killed).Seconds(), got)
			}
		}
		per := agentSent(t, r.coordDir)
		if per[first+1]["h03"] != 0 || per[first+1]["h02"] < 1400 {
			t.Errorf("after the re-plan: per-agent %v", per[first+1])
		}
	})

	t.Run("disconnect", func(t *testing.T) {
		if res := r.hb("disconnect"); res.code != 0 {
			t.Fatalf("disconnect: exit %d: %s", res.code, res.err)
		}
		waitFor(t, 10*time.Second, "connections to close", func() bool {
			return r.serverStats().Connections == 0
		})
		if st := r.status(); st.Plan.Active {
			t.Fatalf("plan still active: %+v", st.Plan)
		}
	})
	if time.Now().After(deadline) {
		t.Errorf("the run took longer than its budget")
	}
}

func hasEvent(st api.Status, kind string) bool {
	for _, e := range st.Events {
		if e.Kind == kind {
			return true
		}
	}
	return false
}
