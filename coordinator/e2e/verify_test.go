package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/admin"
	"github.com/hbctl/hbctl/server/wire"
)

// verifyServer is one hbctl server child.
type verifyServer struct {
	wire, admin, token, dir string
}

func startServer(t *testing.T, name, dir string) verifyServer {
	t.Helper()
	return serverOf(t, start(t, name, nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", dir), dir)
}

func serverOf(t *testing.T, p *proc, dir string) verifyServer {
	t.Helper()
	m := p.match(t, serverLine, 15*time.Second)
	tok, err := os.ReadFile(m[3])
	if err != nil {
		t.Fatal(err)
	}
	return verifyServer{wire: m[1], admin: "http://" + m[2], token: strings.TrimSpace(string(tok)), dir: dir}
}

// releasing says whether the server still runs a shake or send release.
func (s verifyServer) releasing(t *testing.T) bool {
	t.Helper()
	st, err := admin.New(s.admin, s.token, nil).Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Releasing.Shake || st.Releasing.Send
}

// stealLogin logs uid in on the server from the test: the server replaces
// (closes) the agent's connection of that uid.
func stealLogin(t *testing.T, addr string, uid uint32) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := wire.Login(uint64(time.Now().UnixMilli()), uid)
	if _, err := c.Write(wire.Append(nil, &f)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 0, wire.MaxFrameLen)
	tmp := make([]byte, wire.MaxFrameLen)
	for {
		var resp wire.Frame
		n, err := wire.Decode(buf, &resp)
		if err == nil {
			if resp.Cmd != 1 || resp.Result() != 0 {
				t.Fatalf("LOGIN of uid %d from the test: answered %+v", uid, resp)
			}
			return
		}
		if err != wire.ErrShort {
			t.Fatalf("decode LOGIN_RESP: %v", err)
		}
		_ = n
		k, err := c.Read(tmp)
		if err != nil {
			t.Fatalf("read LOGIN_RESP: %v", err)
		}
		buf = append(buf, tmp[:k]...)
	}
}

// verifyOutput is what the test reads of `verify ledger --json-out`.
type verifyOutput struct {
	checks.Report
	ExitCode int         `json:"exit_code"`
	Problems []string    `json:"problems"`
	Quiesce  api.Quiesce `json:"quiesce"`
	Duration int64       `json:"duration_ms"`
}

func readVerify(t *testing.T, path string) verifyOutput {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v verifyOutput
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestVerifyLedger runs real processes (two servers, a coordinator, three
// agents), loads them with SHAKEs, a shake and a send release, kills one
// user's connection with a second LOGIN and one agent with SIGKILL
// (restarted on its data dir), and verifies the ledgers: they reconcile,
// with the unknown outcomes counted and within bounds. The ledgers verify
// collected then take every single-fault mutation, each caught exactly.
// An agent killed after an idle stretch records a restart span that starts
// at its last checkpoint, kept fresh while idle, and still reconciles.
// A wrong token changes nothing; a server without admin API makes verify
// fail unless --allow-partial.
func TestVerifyLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	tmp := t.TempDir()
	serverA := start(t, "server-a", nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "srv-a"))
	sa := serverOf(t, serverA, filepath.Join(tmp, "srv-a"))
	sb := startServer(t, "server-b", filepath.Join(tmp, "srv-b"))
	coordDir := filepath.Join(tmp, "coord")
	co := start(t, "coordinator", nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0", "--data-dir", coordDir)
	m := co.match(t, coordLine, 15*time.Second)
	r := &runEnv{t: t, coordURL: "http://" + m[1], coordDir: coordDir}
	r.env = []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + coordDir}

	agentArgs := func(i int, name string) []string {
		return []string{"agent", "--name", name, "--bind", fmt.Sprintf("127.0.0.%d", i+2), "--capacity", "1000",
			"--data-dir", filepath.Join(tmp, name), "--timeout", "2s", "--open-delay", "0-50ms"}
	}
	names := []string{"h02", "h03", "h04"}
	agentProcs := map[string]*proc{}
	for i, name := range names {
		agentProcs[name] = start(t, name, r.env, agentArgs(i, name)...)
	}
	alive := func(want int) func() bool {
		return func() bool {
			n := 0
			for _, a := range r.status().Agents {
				if a.Alive {
					n++
				}
			}
			return n == want
		}
	}
	waitFor(t, 15*time.Second, "three live agents", alive(3))

	const users = 1500
	res := r.hb("connect", "--server", sa.wire, "--server", sb.wire, "--admin", sa.admin, "--admin", sb.admin,
		"--server-data-dir", sa.dir, "--server-data-dir", sb.dir, "--users", fmt.Sprint(users), "--wait", "--timeout", "30s")
	if res.code != 0 {
		t.Fatalf("connect: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	if res := r.hb("qps", "set", "600", "--at", "+1s"); res.code != 0 {
		t.Fatalf("qps set: exit %d: %s", res.code, res.err)
	}
	if res := r.hb("shake", "--rate", "200", "--total", "300"); res.code != 0 {
		t.Fatalf("shake: exit %d: %s", res.code, res.err)
	}
	if res := r.hb("send", "--rate", "40", "--total", "40", "--recipients", "3"); res.code != 0 {
		t.Fatalf("send: exit %d: %s", res.code, res.err)
	}

	// A connection killed mid-run: uid 6 is on server a (6 mod 2 = 0).
	stealLogin(t, sa.wire, 6)

	// An agent killed mid-run and restarted on the same data dir, after
	// its checkpoint fell behind what it sent.
	waitFor(t, 10*time.Second, "the shake release to be granting", func() bool {
		return r.status().Run.Got > 30
	})
	agentProcs["h03"].kill()
	waitFor(t, 10*time.Second, "h03 declared dead", alive(2))
	agentProcs["h03"] = start(t, "h03-restarted", r.env, agentArgs(1, "h03")...)
	waitFor(t, 20*time.Second, "h03 back with every user connected", func() bool {
		st := r.status()
		if st.Connections.Established != users || len(st.Agents) != 3 {
			return false
		}
		for _, a := range st.Agents {
			if !a.Alive || a.PlanID != st.Plan.ID || a.Conns != users/3 {
				return false
			}
		}
		return true
	})
	waitFor(t, 20*time.Second, "the releases to finish", func() bool {
		return !sa.releasing(t) && !sb.releasing(t)
	})

	// Verify while SHAKEs are in flight: verify itself stops the load.
	report := filepath.Join(tmp, "verify.json")
	began := time.Now()
	res = r.hb("verify", "ledger", "--json-out", report, "--grace", "5s", "--save-input")
	took := time.Since(began)
	v := readVerify(t, report)
	if res.code != 0 || v.ExitCode != 0 || v.Verdict != checks.VerdictReconciled {
		t.Fatalf("verify: exit %d, verdict %s, problems %v, discrepancies %+v\n%s\n%s",
			res.code, v.Verdict, v.Problems, v.Discrepancies, res.out, res.err)
	}
	t.Logf("verify ledger took %s (coordinator: %d ms): %d agents' and 2 servers' ledgers\n%s", took, v.Duration, len(names), res.out)
	for _, want := range []string{"shake granted/received", "verdict: reconciled (exit 0)"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	tot := v.Totals
	if tot.Server.Issued.Count != 300 || tot.Server.Issued.Cents != tot.Server.Granted.Cents+tot.Server.InPools.Cents {
		t.Errorf("shake totals %+v", tot.Server)
	}
	if tot.Server.Granted != tot.Client.Received {
		// Equal here: no grant was lost with a connection, or the unknown
		// counts say so.
		if v.Unknown.GrantsUnreceived.Count != tot.Server.Granted.Count-tot.Client.Received.Count {
			t.Errorf("granted %+v, received %+v, unknown %+v", tot.Server.Granted, tot.Client.Received, v.Unknown.GrantsUnreceived)
		}
	}
	if tot.Server.Sent.Count != 40 || tot.Server.Opened.Cents > tot.Server.Sent.Cents {
		t.Errorf("send totals %+v", tot.Server)
	}
	un := v.Unknown
	if un.AfterCheckpointBound == 0 || un.AfterCheckpointUsed > un.AfterCheckpointBound {
		t.Errorf("the killed agent's after-checkpoint bound: %+v", un)
	}
	if un.ShakesUnacknowledged > un.Lost+un.Pending+un.AfterCheckpointUsed {
		t.Errorf("unacknowledged SHAKEs beyond the unknown outcomes: %+v", un)
	}
	cr := tot.Client.Requests
	if sr := tot.Server.Requests; sr.Shake < cr.Got+cr.None+cr.Overloaded || sr.Shake > cr.Shake+un.AfterCheckpointBound {
		t.Errorf("server SHAKEs %d outside [acknowledged %d, attempted %d + bound %d]",
			sr.Shake, cr.Got+cr.None+cr.Overloaded, cr.Shake, un.AfterCheckpointBound)
	}
	t.Logf("unknown outcomes: %+v; client requests %+v; quiesce %+v", un, cr, v.Quiesce)
	if !v.Quiesce.Restored || v.Quiesce.PreviousRate != 600 {
		t.Errorf("quiesce %+v: the rate should be restored", v.Quiesce)
	}
	waitFor(t, 10*time.Second, "the rate restored", func() bool { return r.status().Plan.Rate == 600 })

	t.Run("mutations of the collected ledgers", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(coordDir, "verify-input.json"))
		if err != nil {
			t.Fatal(err)
		}
		var clean checks.Input
		if err := json.Unmarshal(b, &clean); err != nil {
			t.Fatal(err)
		}
		rep, err := checks.Verify(&clean)
		if err != nil || len(rep.Discrepancies) != 0 {
			t.Fatalf("clean: %v %+v", err, rep)
		}
		for _, mu := range checkstest.Mutations() {
			t.Run(mu.Name, func(t *testing.T) {
				in := checkstest.Clone(&clean)
				want, err := mu.Apply(in)
				if err != nil {
					t.Fatalf("apply: %v", err)
				}
				rep, err := checks.Verify(in)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Discrepancies) != 1 || !want.Match(&rep.Discrepancies[0]) || rep.Verdict.ExitCode() != 1 {
					t.Fatalf("want exactly %s, got %+v", want, rep.Discrepancies)
				}
			})
		}
	})

	parent := t // the restarted agent outlives the subtest
	t.Run("agent killed after an idle stretch", func(t *testing.T) {
		// No load: h02's counters stop moving and its checkpoint keeps
		// only its time fresh. Killed then, the span its restart records
		// starts within a second or two of the kill, not at its last
		// change, and the ledgers still reconcile.
		if res := r.hb("qps", "set", "0", "--at", "+1s"); res.code != 0 {
			t.Fatalf("qps set 0: exit %d: %s", res.code, res.err)
		}
		dir := filepath.Join(tmp, "h02")
		var still, lastT int64 // the checkpoint time its users were first seen as they are
		var counters []byte
		waitFor(t, 30*time.Second, "h02's counters still for 3 s", func() bool {
			b, err := os.ReadFile(filepath.Join(dir, "counters.json"))
			if err != nil {
				return false
			}
			var cp struct {
				T     int64           `json:"t"`
				Users json.RawMessage `json:"users"`
			}
			if json.Unmarshal(b, &cp) != nil {
				return false
			}
			if !bytes.Equal(cp.Users, counters) {
				counters, still = cp.Users, cp.T
			}
			lastT = cp.T
			return cp.T-still >= 3000
		})
		agentProcs["h02"].kill()
		waitFor(t, 10*time.Second, "h02 declared dead", alive(2))
		agentProcs["h02"] = start(parent, "h02-restarted", r.env, agentArgs(0, "h02")...)
		waitFor(t, 20*time.Second, "h02 back with every user connected", func() bool {
			st := r.status()
			return st.Connections.Established == users && len(st.Agents) == 3 && alive(3)()
		})
		b, err := os.ReadFile(filepath.Join(dir, "restarts.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var rs api.Restart
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rs); err != nil {
			t.Fatal(err)
		}
		if rs.CheckpointMillis < lastT || rs.CheckpointMillis < still+3000 {
			t.Errorf("restart %+v: its span starts before the last checkpoint seen (%d), or at the last change (%d)", rs, lastT, still)
		}
		res := r.hb("verify", "ledger", "--grace", "5s")
		if res.code != 0 || !strings.Contains(res.out, "verdict: reconciled (exit 0)") {
			t.Fatalf("verify after the idle kill: exit %d\n%s\n%s", res.code, res.out, res.err)
		}
		if res := r.hb("qps", "set", "600", "--at", "+1s"); res.code != 0 {
			t.Fatalf("qps set 600: exit %d: %s", res.code, res.err)
		}
		waitFor(t, 10*time.Second, "the rate back", func() bool { return r.status().Plan.Rate == 600 })
	})

	t.Run("wrong token", func(t *testing.T) {
		before, err := os.ReadFile(filepath.Join(coordDir, "verify.json"))
		if err != nil {
			t.Fatal(err)
		}
		events := len(r.status().Events)
		res := hb(t, []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_TOKEN=wrong"}, "verify", "ledger")
		if res.code != 3 || !strings.Contains(res.err, "token") {
			t.Fatalf("exit %d, stderr %q; want 3 naming the token", res.code, res.err)
		}
		after, _ := os.ReadFile(filepath.Join(coordDir, "verify.json"))
		st := r.status()
		if !bytes.Equal(before, after) || len(st.Events) != events || st.Plan.Rate != 600 {
			t.Fatalf("a refused verify changed something: rate %d, events %d -> %d", st.Plan.Rate, events, len(st.Events))
		}
	})

	t.Run("server without admin API", func(t *testing.T) {
		res := r.hb("connect", "--server", sa.wire, "--server", sb.wire, "--admin", sa.admin, "--admin", "none",
			"--server-data-dir", sa.dir, "--users", fmt.Sprint(users), "--wait", "--timeout", "30s")
		if res.code != 0 {
			t.Fatalf("connect: exit %d\n%s\n%s", res.code, res.out, res.err)
		}
		out := filepath.Join(tmp, "partial.json")
		res = r.hb("verify", "ledger", "--json-out", out, "--grace", "2s")
		v := readVerify(t, out)
		if res.code != 2 || v.Verdict != checks.VerdictIncomplete || !strings.Contains(res.out, "no admin API") {
			t.Fatalf("exit %d, verdict %s; want 2, incomplete, naming the missing admin API\n%s\n%s", res.code, v.Verdict, res.out, res.err)
		}
		for _, sk := range v.Skipped {
			if sk.Server != sb.wire {
				t.Errorf("skipped a check of %s: %+v", sk.Server, sk)
			}
		}
		res = r.hb("verify", "ledger", "--json-out", out, "--grace", "2s", "--allow-partial")
		v = readVerify(t, out)
		if res.code != 0 || v.ExitCode != 0 || len(v.Skipped) == 0 || len(v.DiscrepancyCounts) != 0 {
			t.Fatalf("--allow-partial: exit %d, %+v\n%s\n%s", res.code, v.Report, res.out, res.err)
		}
	})

	t.Run("server restarted during the run", func(t *testing.T) {
		// Same addresses and data dir: its journal continues, its per-user
		// counters resume from their checkpoint, and what they missed in
		// the crash window is bounded, not a reason to give up.
		serverA.kill()
		restarted := start(t, "server-a-restarted", nil, "server", "--listen", sa.wire,
			"--admin", strings.TrimPrefix(sa.admin, "http://"), "--data-dir", sa.dir)
		serverOf(t, restarted, sa.dir)
		waitFor(t, 30*time.Second, "every user back", func() bool { return r.status().Connections.Established == users })
		res := r.hb("verify", "ledger", "--grace", "2s", "--allow-partial")
		if res.code != 0 || !strings.Contains(res.out, "server crash windows") {
			t.Fatalf("exit %d; want 0 with the crash window bounded\n%s\n%s", res.code, res.out, res.err)
		}
	})

	t.Run("agent that does not upload", func(t *testing.T) {
		agentProcs["h04"].kill()
		began := time.Now()
		res := r.hb("verify", "ledger", "--grace", "1s", "--upload-timeout", "2s", "--allow-partial")
		if res.code != 2 || !strings.Contains(res.out, "agent h04: did not upload") {
			t.Fatalf("exit %d; want 2 naming h04\n%s\n%s", res.code, res.out, res.err)
		}
		if d := time.Since(began); d > 20*time.Second {
			t.Errorf("verify took %s: the upload bound did not bound it", d)
		}
	})
}
