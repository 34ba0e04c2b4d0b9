package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/netpoll"
	"github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/server/wire"
)

// floorChildMode is childEnv's value that makes the child a floor client.
const floorChildMode = "floor"

// BenchmarkAgentFloor is the least CPU a client can spend per SHAKE on this
// machine, against the same reference server as BenchmarkAgent and with the
// same fire pattern, so the engine's figure can be read against it. The
// child is no engine at all: one locked thread, no epoll, no journal, no
// histograms, no runtime scheduling. It sleeps until each tick of the grid
// (clock_nanosleep, made raw), writes the SHAKEs due with one write(2)
// each, and reads the answers to the previous tick's SHAKEs with one
// read(2) each. Whatever it spends is the kernel's: the SHAKE's send, which
// on loopback also runs the server's TCP receive and wakes the server's
// thread; the answer's read; and the wake-up of each tick.
//
// Its users fire in the order of a plan's slots (schedule.GoldenStride), as
// the engine's do, so that consecutive SHAKEs are far apart in uid and fd.
// Fired in uid order instead they would share cache lines no real load
// shares (the file table, neighbouring sockets and connections, on both
// sides) and the floor would be cheaper than the same SHAKEs can be: 11-14%
// for the client, 4-6% for the server at 10k/s. BENCH_FLOOR_ORDER=uid in the
// environment fires them in uid order, to measure that.
//
// grid=1s fires a second's SHAKEs in one burst, once a second, as the
// classic client did.
func BenchmarkAgentFloor(b *testing.B) {
	for _, tc := range []struct {
		conns, qps, secs int
		grid             time.Duration
	}{
		{15000, 10000, 5, DefaultWakeGrid},
		{15000, 10000, 5, time.Millisecond},
		{15000, 10000, 5, 2 * time.Millisecond},
		{15000, 10000, 5, time.Second},
	} {
		b.Run(fmt.Sprintf("conns=%d/qps=%d/wakegrid=%v", tc.conns, tc.qps, tc.grid), func(b *testing.B) {
			srv, addr := startServer(b, b.TempDir(), "127.0.0.1:0", server.Config{Sets: 16})
			defer srv.Close()
			var r floorResult
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"="+floorChildMode, "BENCH_SERVER="+addr, "GODEBUG=asyncpreemptoff=1",
					fmt.Sprintf("BENCH_USERS=%d", tc.conns), fmt.Sprintf("BENCH_QPS=%d", tc.qps),
					fmt.Sprintf("BENCH_SECONDS=%d", tc.secs), "BENCH_WAKEGRID="+tc.grid.String())
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, os.Stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("floor child: %v", err)
				}
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					b.Fatalf("floor child output %q: %v", out.String(), err)
				}
			}
			if r.Sent == 0 || r.Answered < r.Sent*99/100 {
				b.Fatalf("floor child sent %d SHAKEs and read %d answers", r.Sent, r.Answered)
			}
			b.ReportMetric(r.CPUSeconds/(float64(r.Sent)/10000), "cpu-s/10k-shakes")
			b.ReportMetric(float64(r.CtxSwitches)/float64(r.Sent), "ctxsw/shake")
			b.ReportMetric(float64(r.Sent), "shakes")
		})
	}
}

type floorResult struct {
	Sent, Answered uint64
	CPUSeconds     float64
	CtxSwitches    int64
}

// floorChild is the child of BenchmarkAgentFloor.
func floorChild() int {
	env := func(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }
	users, qps, secs := env("BENCH_USERS"), env("BENCH_QPS"), env("BENCH_SECONDS")
	grid, err := time.ParseDuration(os.Getenv("BENCH_WAKEGRID"))
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "floor child:", err); return 1 }
	if err != nil {
		return fail(err)
	}
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	fds, err := floorLogin(os.Getenv("BENCH_SERVER"), users)
	if err != nil {
		return fail(err)
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()

	var r floorResult
	shake := make([][]byte, users)
	for u := range shake {
		f := wire.Shake(0, uint32(u))
		shake[u] = wire.Append(nil, &f)
	}
	// order[k] is the user of the k-th fire of a cycle: the user whose plan
	// slot is k.
	plan := schedule.Plan{Users: []schedule.Range{{Lo: 0, Hi: uint32(users)}}, Stride: schedule.GoldenStride(int64(users))}
	order := make([]int, users)
	for i := range users {
		order[plan.Slot(int64(i))] = i
	}
	if os.Getenv("BENCH_FLOOR_ORDER") == "uid" {
		for i := range order {
			order[i] = i
		}
	}
	buf := make([]byte, 4096)
	var pending, next []int
	// readAnswers reads the answers to the SHAKEs written so far, one
	// read(2) each; those not yet arrived stay pending.
	readAnswers := func() {
		next = next[:0]
		for _, fd := range pending {
			if n, err := netpoll.Read(fd, buf); n > 0 {
				r.Answered++
			} else if err == unix.EAGAIN {
				next = append(next, fd)
			}
		}
		pending, next = next, pending
	}
	now := func() int64 { var ts unix.Timespec; unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); return ts.Nano() }
	t0 := (now()/1e9 + 1) * 1e9
	if start, ok, err := syncStart(); err != nil {
		return fail(err)
	} else if ok {
		t0 = now() + time.Until(start).Nanoseconds()
	}
	end := t0 + int64(secs)*1e9
	total := int64(qps) * int64(secs)
	var fire int64 // index of the next fire; fire j is due at t0 + j*1e9/qps
	stop, err := startPerf(secs)
	if err != nil {
		return fail(err)
	}
	defer stop()
	cpu0, cs0 := cpuSeconds(), contextSwitches()
	for tick := t0; tick < end+int64(grid); tick += int64(grid) {
		ts := unix.NsecToTimespec(tick)
		for {
			_, _, e := unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
			if e != unix.EINTR {
				break
			}
		}
		readAnswers()
		t := now()
		if t >= end+int64(grid) {
			// Fallen behind past the window (at saturation): what was
			// sent by now is the rate reached.
			break
		}
		for ; fire < total && t0+fire*1e9/int64(qps) <= t; fire++ {
			u := order[fire%int64(users)]
			if _, err := netpoll.Write(fds[u], shake[u]); err != nil {
				return fail(fmt.Errorf("write SHAKE of user %d: %w", u, err))
			}
			r.Sent++
			pending = append(pending, fds[u])
		}
	}
	r.CPUSeconds, r.CtxSwitches = cpuSeconds()-cpu0, contextSwitches()-cs0
	// Answers still in flight, outside the measured window.
	for deadline := now() + 5e9; len(pending) > 0 && now() < deadline; {
		readAnswers()
		time.Sleep(time.Millisecond)
	}
	json.NewEncoder(os.Stdout).Encode(&r)
	return 0
}

// floorLogin opens one non-blocking TCP_NODELAY connection per user to addr
// and logs each in.
func floorLogin(addr string, users int) ([]int, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrInet4{Addr: host, Port: port}
	fds := make([]int, 0, users)
	resp := make([]byte, wire.CmdLoginResp.Len())
	for u := 0; u < users; u++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fds, fmt.Errorf("socket for user %d: %w", u, err)
		}
		fds = append(fds, fd)
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.Connect(fd, sa); err != nil {
			return fds, fmt.Errorf("connect user %d: %w", u, err)
		}
		f := wire.Login(0, uint32(u))
		if _, err := unix.Write(fd, wire.Append(nil, &f)); err != nil {
			return fds, fmt.Errorf("LOGIN of user %d: %w", u, err)
		}
		for got := 0; got < len(resp); {
			n, err := unix.Read(fd, resp[got:])
			if n <= 0 {
				return fds, fmt.Errorf("LOGIN_RESP of user %d: %d bytes, %v", u, n, err)
			}
			got += n
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			return fds, err
		}
	}
	return fds, nil
}

func splitHostPort(addr string) ([4]byte, int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return [4]byte{}, 0, fmt.Errorf("server address %q: %w", addr, err)
	}
	return ap.Addr().As4(), int(ap.Port()), nil
}
