package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/wire"
)

// DefaultSoak is how long TestFaultSoak hits the run with faults; the
// environment variable HBCTL_SOAK_DURATION (a Go duration) overrides it,
// as `make soak` does for the long version.
const DefaultSoak = 60 * time.Second

// soakDuration reads HBCTL_SOAK_DURATION.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("HBCTL_SOAK_DURATION")
	if s == "" {
		return DefaultSoak
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 2*time.Hour {
		t.Fatalf("HBCTL_SOAK_DURATION=%q: want a duration up to 2h", s)
	}
	return d
}

// restartCoordinator SIGKILLs the coordinator and starts it again on the
// same address and data dir. It keeps the plans it ran, not the run: the
// test connects and sets the rate again.
func (f *faultRun) restartCoordinator() {
	f.t.Helper()
	f.coProc.kill()
	f.coProc = start(f.t, fmt.Sprintf("coordinator-restarted-%d", time.Now().UnixNano()), nil, "coordinator",
		"--listen", f.coAddr, "--time-udp", "127.0.0.1:0", "--data-dir", f.coordDir)
	f.coProc.match(f.t, coordLine, 15*time.Second)
}

// reconnect connects every user again and sets the rate.
func (f *faultRun) reconnect(qps int) {
	f.t.Helper()
	waitFor(f.t, 20*time.Second, "every agent registered again", f.agentsAlive(len(f.agents)))
	args := []string{"connect", "--users", fmt.Sprint(f.users), "--wait", "--timeout", "60s"}
	for _, s := range f.servers {
		args = append(args, "--server", s.wire, "--admin", s.admin, "--server-data-dir", s.dir)
	}
	if res := f.hb(args...); res.code != 0 {
		f.t.Fatalf("connect: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	if res := f.hb("qps", "set", fmt.Sprint(qps), "--at", "+1s"); res.code != 0 {
		f.t.Fatalf("qps set: exit %d: %s", res.code, res.err)
	}
}

// keepReleasing starts a short shake and send release on every server
// not running one, straight through its admin API (a server just
// restarted may not be releasing). It returns how many it started.
func (f *faultRun) keepReleasing() int {
	f.t.Helper()
	n := 0
	for _, s := range f.servers {
		if s.releasing(f.t) {
			continue
		}
		for _, body := range []string{`{"rate":100,"total":300}`, `{"rate":20,"total":60,"recipients":3}`} {
			path := "/v1/shake"
			if strings.Contains(body, "recipients") {
				path = "/v1/send"
			}
			if code := adminPost(f.t, s, path, body); code == 202 {
				n++
			}
		}
	}
	return n
}

// portOwner matches a socket line of `ss -tnpH`: local address, peer, and
// the owning process's pid.
var portOwner = regexp.MustCompile(`\S+:(\d+)\s+\S+:(\d+)\s+users:\(\("[^"]*",pid=(\d+),`)

// cutOff resets, again and again for d, every connection agent i holds to
// the coordinator (its long poll, heartbeats, windows), as a link down
// would, while its user connections stay up.
func (f *faultRun) cutOff(i int, d time.Duration) int {
	f.t.Helper()
	pid := strconv.Itoa(f.agProcs[f.agents[i]].cmd.Process.Pid)
	_, cport, _ := strings.Cut(f.coAddr, ":")
	killed := 0
	end := time.Now().Add(d)
	// Paced by a ticker, not waiting for an event: the link stays down
	// for d whatever happens.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ; time.Now().Before(end); <-tick.C {
		out, err := exec.Command("ss", "-tnpH", "state", "established", "dst", "127.0.0.1", "dport", "=", ":"+cport).Output()
		if err != nil {
			f.t.Fatalf("ss: %v", err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			m := portOwner.FindStringSubmatch(line)
			if m == nil || m[3] != pid || m[2] != cport {
				continue
			}
			if err := exec.Command("ss", "-K", "-t", "state", "established", "sport", "=", ":"+m[1], "dport", "=", ":"+cport).Run(); err == nil {
				killed++
			}
		}
	}
	return killed
}

// protocolErrors is server s's count of protocol errors since it started.
func protocolErrors(t *testing.T, s verifyServer) int64 {
	t.Helper()
	var st struct {
		ProtocolErrors int64 `json:"protocol_errors"`
	}
	if err := json.Unmarshal(adminGet(t, s, "/v1/stats"), &st); err != nil {
		t.Fatal(err)
	}
	return st.ProtocolErrors
}

// hostilePeers opens connections to server s that break the protocol (a
// frame of a bad length before any LOGIN) and connections that stall
// halfway through their LOGIN, holds them until the server has counted
// the errors, then drops them. None logs in: a stranger that did would be
// a user no agent accounts for.
func hostilePeers(t *testing.T, s verifyServer) int {
	t.Helper()
	before := protocolErrors(t, s)
	login := wire.Login(uint64(time.Now().Unix()), 1)
	half := wire.Append(nil, &login)[:7]
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	const n = 5
	for range n {
		for _, b := range [][]byte{{0, 99, 0, 2}, half} {
			c, err := net.DialTimeout("tcp", s.wire, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 10*time.Second, "the hostile peers' errors counted", func() bool { return protocolErrors(t, s) >= before+n })
	return len(held)
}

// TestFaultSoak runs two servers, a coordinator and three agents under
// SHAKE load with shake and send releases again and again while a
// schedule of faults hits them: user connections reset in bursts, agents and servers SIGKILLed and restarted,
// hostile and stalled peers on the servers, an agent cut off from the
// coordinator for longer than it takes to be declared dead, the
// coordinator SIGKILLed and restarted. At the end verify ledger reconciles (no false alarm);
// then one cent injected into a server's journal is caught. The faults
// run for DefaultSoak (HBCTL_SOAK_DURATION: `make soak` runs 30 minutes).
func TestFaultSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	canReset(t)
	soak := soakDuration(t)
	const qps = 600
	agents := []string{"h02", "h03", "h04"}
	f := startFaultRun(t, 2, agents, 900, qps)
	began := time.Now()
	counts := map[string]int{}

	faults := []struct {
		name string
		do   func(k int)
	}{
		{"connection reset bursts", func(k int) {
			for i := range agents {
				for _, s := range f.servers {
					counts["connections reset"] += resetConns(t, fmt.Sprintf("127.0.0.%d", i+2), s)
				}
			}
		}},
		{"agent SIGKILLs", func(k int) {
			f.killAgent(k % len(agents))
			waitFor(t, 20*time.Second, "the agent back", f.agentsAlive(len(agents)))
		}},
		{"server SIGKILLs", func(k int) { f.killServer(k % len(f.servers)) }},
		{"hostile peer rounds", func(k int) {
			for _, s := range f.servers {
				counts["hostile peers"] += hostilePeers(t, s)
			}
		}},
		{"agent cut-offs", func(k int) {
			counts["coordinator connections reset"] += f.cutOff(k%len(agents), 5*time.Second)
			waitFor(t, 20*time.Second, "the agent back", f.agentsAlive(len(agents)))
		}},
		// The plans before a restart stay in its data dir, so the faults
		// before it are still bounded by them.
		{"coordinator restarts", func(k int) {
			f.restartCoordinator()
			f.reconnect(qps)
		}},
	}
	// Every kind of fault at least once, however slow the host.
	for k := 0; k < len(faults) || time.Since(began) < soak; k++ {
		counts["releases started"] += f.keepReleasing()
		fl := faults[k%len(faults)]
		fl.do(k / len(faults))
		counts[fl.name]++
		f.allConnected(60 * time.Second)
	}
	f.releasesDone(30 * time.Second)
	t.Logf("soak of %s (faults for %s): %v", time.Since(began).Round(time.Second), soak, counts)

	code, v, text := f.verify("soak")
	assertReconciled(t, code, v, text)
	t.Logf("verify after the soak:\n%s", text)
	var src struct {
		Agents  []api.LedgerSource `json:"agents"`
		Servers []api.LedgerSource `json:"servers_collected"`
	}
	b, err := os.ReadFile(filepath.Join(f.tmp, "soak.json"))
	if err != nil || json.Unmarshal(b, &src) != nil {
		t.Fatalf("soak.json: %v", err)
	}
	records := 0
	for _, l := range append(src.Agents, src.Servers...) {
		records += l.Records
	}
	t.Logf("ledger records reconciled: %d; unknown outcomes %+v", records, v.Unknown)

	// The same run, one cent injected into a server's journal: caught.
	env := f.changeOneCent(1)
	code, v, text = f.verify("soak-injected")
	if code != 1 || v.DiscrepancyCounts[checks.KindGrantAmount] != 1 || !strings.Contains(text, fmt.Sprintf("env=%d", env)) {
		t.Fatalf("one cent injected into envelope %d: exit %d, %v\n%s", env, code, v.DiscrepancyCounts, text)
	}
}
