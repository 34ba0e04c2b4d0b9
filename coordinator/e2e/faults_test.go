package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/ledger"
)

// faultRun is a run of real processes to hit with faults: servers, a
// coordinator and agents, each restartable on its own addresses and data
// dir.
type faultRun struct {
	*runEnv
	tmp      string
	servers  []verifyServer
	srvProcs []*proc
	agents   []string
	agProcs  map[string]*proc
	coProc   *proc
	coAddr   string
	users    int
}

// startFaultRun starts nServers servers, a coordinator and the named
// agents (agent i binds 127.0.0.(i+2)), connects users over them and sets
// the rate.
func startFaultRun(t *testing.T, nServers int, agents []string, users, qps int) *faultRun {
	t.Helper()
	tmp := t.TempDir()
	f := &faultRun{tmp: tmp, agents: agents, agProcs: map[string]*proc{}, users: users}
	for i := range nServers {
		dir := filepath.Join(tmp, fmt.Sprintf("srv-%d", i))
		p := start(t, fmt.Sprintf("server-%d", i), nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", dir)
		f.srvProcs = append(f.srvProcs, p)
		f.servers = append(f.servers, serverOf(t, p, dir))
	}
	coordDir := filepath.Join(tmp, "coord")
	f.coProc = start(t, "coordinator", nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0", "--data-dir", coordDir)
	m := f.coProc.match(t, coordLine, 15*time.Second)
	f.coAddr = m[1]
	f.runEnv = &runEnv{t: t, coordURL: "http://" + m[1], coordDir: coordDir}
	f.env = []string{"HBCTL_COORDINATOR=" + f.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + coordDir}
	for i, name := range agents {
		f.agProcs[name] = start(t, name, f.env, f.agentArgs(i)...)
	}
	waitFor(t, 20*time.Second, "every agent alive", f.agentsAlive(len(agents)))
	args := []string{"connect", "--users", fmt.Sprint(users), "--wait", "--timeout", "60s"}
	for _, s := range f.servers {
		args = append(args, "--server", s.wire, "--admin", s.admin, "--server-data-dir", s.dir)
	}
	if res := f.hb(args...); res.code != 0 {
		t.Fatalf("connect: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	if res := f.hb("qps", "set", fmt.Sprint(qps), "--at", "+1s"); res.code != 0 {
		t.Fatalf("qps set: exit %d: %s", res.code, res.err)
	}
	return f
}

func (f *faultRun) agentArgs(i int) []string {
	name := f.agents[i]
	return []string{"agent", "--name", name, "--bind", fmt.Sprintf("127.0.0.%d", i+2),
		"--capacity", fmt.Sprint(f.users), "--data-dir", filepath.Join(f.tmp, name), "--timeout", "2s", "--open-delay", "0-50ms"}
}

func (f *faultRun) agentsAlive(want int) func() bool {
	return func() bool {
		n := 0
		for _, a := range f.status().Agents {
			if a.Alive {
				n++
			}
		}
		return n == want
	}
}

// killServer SIGKILLs server i and starts it again on the same addresses
// and data dir.
func (f *faultRun) killServer(i int) {
	f.t.Helper()
	s := f.servers[i]
	f.srvProcs[i].kill()
	p := start(f.t, fmt.Sprintf("server-%d-restarted-%d", i, time.Now().UnixNano()), nil, "server", "--listen", s.wire,
		"--admin", strings.TrimPrefix(s.admin, "http://"), "--data-dir", s.dir)
	serverOf(f.t, p, s.dir)
	f.srvProcs[i] = p
}

// killAgent SIGKILLs agent i and starts it again on its data dir.
func (f *faultRun) killAgent(i int) {
	f.t.Helper()
	name := f.agents[i]
	f.agProcs[name].kill()
	f.agProcs[name] = start(f.t, fmt.Sprintf("%s-restarted-%d", name, time.Now().UnixNano()), f.env, f.agentArgs(i)...)
}

// allConnected waits until every user is logged in again on a live agent
// running the current plan.
func (f *faultRun) allConnected(within time.Duration) {
	f.t.Helper()
	waitFor(f.t, within, "every user connected", func() bool {
		st := f.status()
		if st.Connections.Established != f.users {
			return false
		}
		for _, a := range st.Agents {
			if !a.Alive || a.PlanID != st.Plan.ID {
				return false
			}
		}
		return true
	})
}

// releasesDone waits until no server is releasing.
func (f *faultRun) releasesDone(within time.Duration) {
	f.t.Helper()
	waitFor(f.t, within, "the releases to end", func() bool {
		for _, s := range f.servers {
			if s.releasing(f.t) {
				return false
			}
		}
		return true
	})
}

// verify runs verify ledger (saving its input) and returns the exit code,
// the parsed report and the text.
func (f *faultRun) verify(name string, extra ...string) (int, verifyOutput, string) {
	f.t.Helper()
	out := filepath.Join(f.tmp, name+".json")
	args := append([]string{"verify", "ledger", "--json-out", out, "--grace", "5s"}, extra...)
	res := f.hb(args...)
	return res.code, readVerify(f.t, out), res.out + res.err
}

// changeOneCent adds a cent to the amount of the first grant record in
// server i's journal, in place (same length, so the server's offset holds),
// and returns the envelope id.
func (f *faultRun) changeOneCent(i int) uint32 {
	f.t.Helper()
	path := filepath.Join(f.servers[i].dir, "ledger.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	off := 0
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		r, err := ledger.ParseLine(line)
		if err == nil && r.Ev == ledger.EvGrant && r.Amount%10 != 9 {
			old := ledger.AppendJSON(nil, &r)
			r.Amount++
			neu := ledger.AppendJSON(nil, &r)
			if len(old) != len(neu) || !bytes.Equal(old, line) {
				f.t.Fatalf("cannot change %q in place", line)
			}
			fh, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				f.t.Fatal(err)
			}
			defer fh.Close()
			if _, err := fh.WriteAt(neu, int64(off)); err != nil {
				f.t.Fatal(err)
			}
			return r.Env
		}
		off += len(line)
	}
	f.t.Fatal("no grant record to change")
	return 0
}

func adminGet(t *testing.T, s verifyServer, path string) []byte {
	t.Helper()
	req, err := http.NewRequest("GET", s.admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s", path, err, res.Status)
	}
	return b
}

// adminPost POSTs body to server s's admin API and returns the status.
func adminPost(t *testing.T, s verifyServer, path, body string) int {
	t.Helper()
	req, err := http.NewRequest("POST", s.admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// assertReconciled fails unless verify exited 0 with every check run.
func assertReconciled(t *testing.T, code int, v verifyOutput, text string) {
	t.Helper()
	if code != 0 || v.ExitCode != 0 || v.Verdict != checks.VerdictReconciled || len(v.Skipped) != 0 || len(v.Problems) != 0 {
		t.Fatalf("verify: exit %d, verdict %s, problems %v, skipped %+v, discrepancies %+v\n%s",
			code, v.Verdict, v.Problems, v.Skipped, v.Discrepancies, text)
	}
	tot := v.Totals
	if tot.Server.Issued.Cents != tot.Server.Granted.Cents+tot.Server.InPools.Cents || tot.Server.Issued.Count == 0 {
		t.Errorf("shake envelopes: issued %+v, granted %+v, in pools %+v", tot.Server.Issued, tot.Server.Granted, tot.Server.InPools)
	}
	// Every grant the servers journaled reached its client, or its loss is
	// counted as an unknown outcome: not one cent unaccounted for.
	un := v.Unknown
	if tot.Server.Granted.Count != tot.Client.Received.Count+un.GrantsUnreceived.Count ||
		tot.Server.Granted.Cents != tot.Client.Received.Cents+un.GrantsUnreceived.Cents {
		t.Errorf("granted %+v = received %+v + unreceived %+v does not hold", tot.Server.Granted, tot.Client.Received, un.GrantsUnreceived)
	}
	if tot.Server.Opened.Cents > tot.Server.Sent.Cents {
		t.Errorf("opened %+v above sent %+v", tot.Server.Opened, tot.Server.Sent)
	}
}

// TestVerifyAcrossServerCrash SIGKILLs a server in the middle of a shake
// and a send release, restarts it on its data dir and verifies: the
// ledgers reconcile (exit 0) with every envelope and cent checked, the
// requests its counters missed bounded by the crash window, the releases
// it cut short reported (server stats, coordinator status, timeline) and
// delivered again where unopened. Then one cent changed in its journal
// makes verify exit 1 naming that envelope, and the saved ledgers
// re-check offline.
func TestVerifyAcrossServerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	const users = 1200
	f := startFaultRun(t, 2, []string{"h02", "h03"}, users, 600)
	if res := f.hb("shake", "--rate", "200", "--total", "3000"); res.code != 0 {
		t.Fatalf("shake: exit %d: %s", res.code, res.err)
	}
	if res := f.hb("send", "--rate", "40", "--total", "400", "--recipients", "3"); res.code != 0 {
		t.Fatalf("send: exit %d: %s", res.code, res.err)
	}
	waitFor(t, 20*time.Second, "grants and opens under way", func() bool {
		st := f.status()
		return st.Run.Got > 300 && st.Run.OpenAnswered > 30
	})
	// Past a counters checkpoint or two, so the crash window is a part of
	// the run, not all of it.
	began := time.Now()
	f.killServer(0)
	t.Logf("server 0 SIGKILLed and restarted in %s", time.Since(began))
	f.allConnected(90 * time.Second)
	f.releasesDone(30 * time.Second)

	// The releases the crash cut short, everywhere.
	var st0 struct {
		Interrupted []struct {
			Kind        string `json:"kind"`
			Done, Total int
		} `json:"interrupted"`
		Restarts []struct {
			CheckpointMS int64 `json:"checkpoint_ms"`
			RestartMS    int64 `json:"restart_ms"`
		} `json:"restarts"`
	}
	if err := json.Unmarshal(adminGet(t, f.servers[0], "/v1/stats"), &st0); err != nil {
		t.Fatal(err)
	}
	if len(st0.Interrupted) != 2 || len(st0.Restarts) != 1 {
		t.Fatalf("server 0 stats: interrupted %+v, restarts %+v; want the shake and the send, one restart", st0.Interrupted, st0.Restarts)
	}
	for _, in := range st0.Interrupted {
		if in.Done >= in.Total || in.Done == 0 {
			t.Errorf("interrupted %+v: want some of all", in)
		}
	}
	t.Logf("server 0: interrupted %+v; crash window %d ms", st0.Interrupted, st0.Restarts[0].RestartMS-st0.Restarts[0].CheckpointMS)
	var interrupted []api.ServerRelease
	waitFor(t, 15*time.Second, "the coordinator to report the interrupted releases", func() bool {
		interrupted = interrupted[:0]
		for _, r := range f.status().Releases {
			if r.State == "interrupted" {
				interrupted = append(interrupted, r)
			}
		}
		return len(interrupted) == 2
	})
	events := 0
	for _, e := range f.status().Events {
		if e.Kind == "release_interrupted" {
			events++
		}
	}
	if events != 2 {
		t.Errorf("%d release_interrupted events on the timeline, want 2", events)
	}
	if res := f.hb("status"); !strings.Contains(res.out, "interrupted") {
		t.Errorf("hbctl status does not show the interrupted releases:\n%s", res.out)
	}

	code, v, text := f.verify("crash", "--save-input")
	assertReconciled(t, code, v, text)
	un := v.Unknown
	if un.ServerCountsBound == 0 || un.ServerCountsUsed > un.ServerCountsBound || un.ConnectionLosses < users/2 {
		t.Errorf("unknown %+v: want a crash-window bound and the resets it caused", un)
	}
	if !strings.Contains(text, "server crash windows") || strings.Contains(text, "restarted during the run") {
		t.Errorf("output:\n%s", text)
	}
	t.Logf("verify after the crash:\n%s", text)

	// The same run, one cent changed in the restarted server's journal.
	env := f.changeOneCent(0)
	code, v, text = f.verify("one-cent")
	// The grant now disagrees with the client (grant_amount) and with its
	// own issue record (grant_not_as_issued): both name the envelope.
	named := len(v.Discrepancies) > 0 && v.DiscrepancyCounts[checks.KindGrantAmount] == 1
	for _, d := range v.Discrepancies {
		named = named && d.Env != nil && *d.Env == env
	}
	if code != 1 || !named || !strings.Contains(text, fmt.Sprintf("env=%d", env)) {
		t.Fatalf("one cent changed in envelope %d: exit %d, %+v\n%s", env, code, v.Discrepancies, text)
	}
	t.Logf("one cent changed in envelope %d: %v", env, v.DiscrepancyCounts)

	// The ledgers saved before, checked again offline.
	res := hb(t, nil, "verify", "ledger", "--input", filepath.Join(f.coordDir, "verify-input.json"))
	if res.code != 0 || !strings.Contains(res.out, "verdict: reconciled (exit 0)") {
		t.Fatalf("verify --input: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
}

// resetConns resets, with ss -K (root only), every TCP connection between
// the agent bound to src and server s, and returns how many sockets the
// kernel destroyed on the agent's side.
func resetConns(t *testing.T, src string, s verifyServer) int {
	t.Helper()
	_, port, _ := strings.Cut(s.wire, ":")
	out, err := exec.Command("ss", "-K", "-t", "-H", "state", "established", "src", src, "dst", "127.0.0.1", "dport", "=", ":"+port).CombinedOutput()
	if err != nil {
		t.Fatalf("ss -K: %v: %s", err, out)
	}
	return strings.Count(string(out), "\n")
}

// canReset says whether this test may reset sockets with ss -K.
func canReset(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("resetting connections with ss -K needs root")
	}
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) not installed")
	}
}

// recipientsServed counts, in saved ledgers, the recipients of every sent
// envelope and those of them no client journaled an ENVELOPE or a share
// for.
func recipientsServed(in *checks.Input) (recipients, unnotified, unopened int) {
	type key struct {
		srv      string
		env, uid uint32
	}
	notified, opened := map[key]bool{}, map[key]bool{}
	for _, a := range in.Agents {
		for _, r := range a.Records {
			srv := r.Srv
			if srv == "" {
				srv = in.Servers[0].Name
			}
			switch {
			case r.Ev == ledger.EvNotify:
				notified[key{srv, r.Env, r.UID}] = true
			case r.Ev == ledger.EvOpen && r.Amount > 0:
				opened[key{srv, r.Env, r.UID}] = true
			}
		}
	}
	for _, s := range in.Servers {
		for _, r := range s.Records {
			if r.Ev != ledger.EvSend {
				continue
			}
			for _, u := range r.To {
				recipients++
				if !notified[key{s.Name, r.Env, u}] {
					unnotified++
				}
				if !opened[key{s.Name, r.Env, u}] {
					unopened++
				}
			}
		}
	}
	return recipients, unnotified, unopened
}

// TestVerifyAcrossConnectionChurn resets 2,400 user connections (six
// rounds of 400, with ss -K) during shake and send releases: the agents
// log every user in again, the server delivers every unopened ENVELOPE
// again on each login, so every recipient is notified and every share
// opened, and verify exits 0, counting what the resets could have
// swallowed. The same ledgers with one notification dropped on a
// connection never reset exit 1 naming it.
func TestVerifyAcrossConnectionChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	canReset(t)
	const perAgent = 400
	agents := []string{"h02", "h03", "h04", "h05"} // h05's connections are never reset
	f := startFaultRun(t, 1, agents, perAgent*len(agents), 1500)
	if res := f.hb("shake", "--rate", "200", "--total", "3000"); res.code != 0 {
		t.Fatalf("shake: exit %d: %s", res.code, res.err)
	}
	if res := f.hb("send", "--rate", "40", "--total", "600", "--recipients", "3"); res.code != 0 {
		t.Fatalf("send: exit %d: %s", res.code, res.err)
	}
	waitFor(t, 20*time.Second, "grants and opens under way", func() bool {
		st := f.status()
		return st.Run.Got > 100 && st.Run.OpenAnswered > 10
	})
	resets, during := 0, 0
	for round := range 6 {
		src := fmt.Sprintf("127.0.0.%d", round%3+2)
		n := resetConns(t, src, f.servers[0])
		if f.servers[0].releasing(t) {
			during++
		}
		resets += n
		// Generous: on a host shared with other work, agents may be
		// declared dead and their users re-planned meanwhile.
		f.allConnected(90 * time.Second)
	}
	if resets != 6*perAgent || during == 0 {
		t.Fatalf("%d connections reset (%d rounds during the releases), want %d", resets, during, 6*perAgent)
	}
	f.releasesDone(30 * time.Second)
	t.Logf("%d connections reset in 6 rounds, %d of them during the releases", resets, during)

	code, v, text := f.verify("churn", "--save-input")
	assertReconciled(t, code, v, text)
	if v.Unknown.ConnectionLosses < uint64(resets) {
		t.Errorf("unknown %+v: the agents journaled fewer losses than the %d resets", v.Unknown, resets)
	}
	t.Logf("verify after the churn:\n%s", text)

	b, err := os.ReadFile(filepath.Join(f.coordDir, "verify-input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in checks.Input
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	recipients, unnotified, unopened := recipientsServed(&in)
	if recipients != 3*600 || unnotified != 0 || unopened != 0 {
		t.Fatalf("%d recipients: %d never notified, %d never opened; want every one notified and opened", recipients, unnotified, unopened)
	}

	// One notification dropped on a healthy connection: caught.
	want, err := checkstest.LoseClientNotify(&in)
	if err != nil {
		t.Fatal(err)
	}
	mutated := filepath.Join(f.tmp, "dropped-notify.json")
	if b, err = json.Marshal(&in); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mutated, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := hb(t, nil, "verify", "ledger", "--input", mutated)
	if res.code != 1 || !strings.Contains(res.out, fmt.Sprintf("notify_missing_client  server=%s env=%d uid=%d", want.Server, *want.Env, *want.UID)) {
		t.Fatalf("one notification dropped (%s): exit %d\n%s\n%s", want, res.code, res.out, res.err)
	}
}
