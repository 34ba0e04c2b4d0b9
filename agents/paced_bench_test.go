package agents

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/netpoll"
	"github.com/hbctl/hbctl/server/wire"
)

// floorServerMode is childEnv's value that makes the child a floor server.
const floorServerMode = "floorserver"

// BenchmarkPaced is the headline figure of the load users make: SHAKEs
// paced evenly over every second from many connections, not a closed loop
// that batches for free. Each case runs a server and a client as two child
// processes and measures both over the same firing window, from /proc:
//
//	pair=engine: 'hbctl server' (the real binary, $HBCTL_BIN or built) and
//	             the agent engine at its default wake grid;
//	pair=floor:  a bare server (one thread blocked in epoll_wait, one recv
//	             and one send per SHAKE, nothing else) and the bare client of
//	             BenchmarkAgentFloor at the same wake grid.
//
// The floor pair is the least this machine's kernel charges for the same
// SHAKEs at the same pacing; read each engine figure against the floor of
// the same rate. CPU is per 10,000 SHAKEs (also: the share of one core
// 10,000 SHAKE/s take); context switches are per SHAKE.
//
//	go test ./agents/ -run '^$' -bench BenchmarkPaced -benchtime=1x
func BenchmarkPaced(b *testing.B) {
	rates := []int{10000, 20000, 40000, 60000, 100000}
	if testing.Short() {
		rates = rates[:1]
	}
	const conns, secs = 10000, 5
	for _, qps := range rates {
		for _, pc := range []struct {
			pair    string
			srvGrid time.Duration // the server's --wake-grid
		}{
			{"floor", 0},
			{"engine", 0},
			{"engine", 500 * time.Microsecond},
		} {
			pair := pc.pair
			name := fmt.Sprintf("conns=%d/qps=%d/pair=%s", conns, qps, pair)
			if pair == "engine" {
				name += fmt.Sprintf("/srvgrid=%v", pc.srvGrid)
			}
			b.Run(name, func(b *testing.B) {
				var r pacedResult
				for i := 0; i < b.N; i++ {
					r = runPaced(b, pair, pc.srvGrid, conns, qps, secs)
				}
				shakes := float64(max(r.sent, 1))
				b.ReportMetric(r.server.cpu.Seconds()/shakes*1e4, "server-cpu-s/10k")
				b.ReportMetric(r.client.cpu.Seconds()/shakes*1e4, "client-cpu-s/10k")
				b.ReportMetric(float64(r.server.ctxsw)/shakes, "server-ctxsw/shake")
				b.ReportMetric(float64(r.client.ctxsw)/shakes, "client-ctxsw/shake")
				b.ReportMetric(float64(r.sent)/secs, "sent/s")
				if pair == "engine" {
					b.ReportMetric(float64(r.latencyP99), "latency-p99-µs")
					b.ReportMetric(float64(r.latenessP99), "lateness-p99-µs")
				}
			})
		}
	}
}

// pacedResult is one paced run: what each process spent over the window.
type pacedResult struct {
	server, client          procUsage
	sent                    uint64
	latencyP99, latenessP99 int64 // µs; the engine's
}

func runPaced(b *testing.B, pair string, srvGrid time.Duration, conns, qps, secs int) pacedResult {
	b.Helper()
	var srvPid int
	var addr string
	if pair == "engine" {
		var args []string
		if srvGrid > 0 { // a binary older than the flag runs the cases without it
			args = []string{"--wake-grid", srvGrid.String()}
		}
		srvPid, addr = startHbctlServer(b, args...)
	} else {
		srvPid, addr = startFloorServer(b)
	}
	mode := "1"
	if pair == "floor" {
		mode = floorChildMode
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "BENCH_SYNC=1", "BENCH_SERVER="+addr,
		fmt.Sprintf("BENCH_USERS=%d", conns), fmt.Sprintf("BENCH_QPS=%d", qps),
		fmt.Sprintf("BENCH_SECONDS=%d", secs), "BENCH_WAKEGRID="+DefaultWakeGrid.String())
	if pair == "floor" {
		cmd.Env = append(cmd.Env, "GODEBUG=asyncpreemptoff=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || strings.TrimSpace(line) != "connected" {
		b.Fatalf("client child: %q, %v", line, err)
	}
	// Both sides start firing on the next whole second but one; the window
	// is the firing seconds, measured on both processes alike.
	t0 := time.Unix(time.Now().Unix()+2, 0)
	fmt.Fprintln(stdin, t0.UnixNano())
	time.Sleep(time.Until(t0))
	s0, c0 := usageOf(b, srvPid), usageOf(b, cmd.Process.Pid)
	time.Sleep(time.Until(t0.Add(time.Duration(secs) * time.Second)))
	s1, c1 := usageOf(b, srvPid), usageOf(b, cmd.Process.Pid)
	rest, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("client child: %v", err)
	}
	r := pacedResult{server: s1.sub(s0), client: c1.sub(c0)}
	if pair == "floor" {
		var fr floorResult
		if err := json.Unmarshal(rest, &fr); err != nil {
			b.Fatalf("floor child output %q: %v", rest, err)
		}
		r.sent = fr.Sent
	} else {
		var br benchResult
		if err := json.Unmarshal(rest, &br); err != nil {
			b.Fatalf("agent child output %q: %v", rest, err)
		}
		r.sent, r.latencyP99, r.latenessP99 = br.Sent, br.LatencyP99, br.LatenessP99
	}
	return r
}

// syncStart, in a child started with BENCH_SYNC=1, says "connected" on
// stdout and reads the firing start (Unix ns) from stdin, so that the
// parent measures every process over the same window.
func syncStart() (time.Time, bool, error) {
	if os.Getenv("BENCH_SYNC") != "1" {
		return time.Time{}, false, nil
	}
	fmt.Println("connected")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return time.Time{}, false, fmt.Errorf("start time from the parent: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("start time from the parent: %w", err)
	}
	return time.Unix(0, ns), true, nil
}

// procUsage is a process's CPU time (all its threads, ns precision from
// schedstat) and context switches (voluntary and not).
type procUsage struct {
	cpu   time.Duration
	ctxsw int64
}

func (u procUsage) sub(v procUsage) procUsage {
	return procUsage{cpu: u.cpu - v.cpu, ctxsw: u.ctxsw - v.ctxsw}
}

func usageOf(b *testing.B, pid int) procUsage {
	b.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("threads of %d: %v", pid, err)
	}
	var u procUsage
	for _, t := range tasks {
		if raw, err := os.ReadFile(t + "/schedstat"); err == nil {
			if f := strings.Fields(string(raw)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				u.cpu += time.Duration(ns)
			}
		}
		raw, err := os.ReadFile(t + "/status")
		if err != nil {
			continue // the thread exited
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				u.ctxsw += n
			} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				u.ctxsw += n
			}
		}
	}
	return u
}

// The hbctl binary: $HBCTL_BIN, or built once into a temp dir.
var (
	hbctlOnce sync.Once
	hbctlPath string
	hbctlErr  error
)

func hbctlBin(b *testing.B) string {
	hbctlOnce.Do(func() {
		if hbctlPath = os.Getenv("HBCTL_BIN"); hbctlPath != "" {
			return
		}
		dir, err := os.MkdirTemp("", "hbctl-agents-bench")
		if err != nil {
			hbctlErr = err
			return
		}
		hbctlPath = filepath.Join(dir, "hbctl")
		if out, err := exec.Command("go", "build", "-o", hbctlPath, "github.com/hbctl/hbctl/cli/hbctl").CombinedOutput(); err != nil {
			hbctlErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if hbctlErr != nil {
		b.Fatal(hbctlErr)
	}
	return hbctlPath
}

// startHbctlServer starts 'hbctl server' on a free loopback port and
// returns its pid and wire address once it says it listens.
func startHbctlServer(b *testing.B, args ...string) (int, string) {
	b.Helper()
	cmd := exec.Command(hbctlBin(b), append([]string{"server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data-dir", b.TempDir(), "--log-level", "warn", "--users", "0-999999"}, args...)...)
	return startListening(b, cmd, func(line string) (string, bool) {
		if !strings.HasPrefix(line, "hbctl server listening ") {
			return "", false
		}
		for _, kv := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(kv, "wire="); ok {
				return v, true
			}
		}
		return "", false
	})
}

// startFloorServer starts this test binary as a floor server.
func startFloorServer(b *testing.B) (int, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+floorServerMode, "GODEBUG=asyncpreemptoff=1")
	return startListening(b, cmd, func(line string) (string, bool) {
		return strings.CutPrefix(line, "listening ")
	})
}

// startListening starts cmd and waits for the stdout line from which
// addr takes the server's address; the process is killed at cleanup.
func startListening(b *testing.B, cmd *exec.Cmd, addr func(line string) (string, bool)) (int, string) {
	b.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := addr(sc.Text()); ok {
				found <- a
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case a := <-found:
		return cmd.Process.Pid, a
	case <-time.After(30 * time.Second):
		b.Fatalf("%s: no listening line", cmd.Path)
		return 0, ""
	}
}

// floorServer is the child of the floor pair: the least a server can do
// per SHAKE. One locked thread blocks in epoll_wait (made raw: no runtime
// hand-off), reads each ready connection once and writes one answer per
// request read (LOGIN_RESP ok, SHAKE_RESP 15), with no journal, no SETs,
// no timers.
func floorServer() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "floor server:", err); return 1 }
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return fail(err)
	}
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail(err)
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return fail(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return fail(err)
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		rl.Cur = rl.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fail(err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return fail(err)
	}
	fmt.Printf("listening 127.0.0.1:%d\n", sa.(*unix.SockaddrInet4).Port)
	events := make([]unix.EpollEvent, 256)
	in, out := make([]byte, 4096), make([]byte, 0, 4096)
	partial := map[int][]byte{} // a frame split across reads: rare on loopback
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), ^uintptr(0), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return fail(e)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == lfd {
				for {
					cfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
					unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, cfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(cfd)})
				}
				continue
			}
			m, err := netpoll.Read(fd, in)
			if m <= 0 {
				if err != unix.EAGAIN {
					unix.Close(fd)
					delete(partial, fd)
				}
				continue
			}
			buf := in[:m]
			if p := partial[fd]; len(p) > 0 {
				buf = append(p, buf...)
				delete(partial, fd)
			}
			out = out[:0]
			for len(buf) >= 4 {
				l := int(buf[0])<<8 | int(buf[1])
				if l < 12 || len(buf) < l {
					break
				}
				uid := uint32(buf[12])<<24 | uint32(buf[13])<<16 | uint32(buf[14])<<8 | uint32(buf[15])
				switch wire.Cmd(uint16(buf[2])<<8 | uint16(buf[3])) {
				case wire.CmdLogin:
					out = wire.Append(out, ptrFrame(wire.LoginResp(0, uid, 0)))
				case wire.CmdShake:
					out = wire.Append(out, ptrFrame(wire.ShakeResp(0, uid, wire.ResultNone, 0, 0)))
				}
				buf = buf[l:]
			}
			if len(buf) > 0 {
				partial[fd] = append([]byte(nil), buf...)
			}
			netpoll.Write(fd, out)
		}
	}
}

func ptrFrame(f wire.Frame) *wire.Frame { return &f }
