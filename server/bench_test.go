package server

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/wire"
)

// dialMany opens n logged-in connections for uids 0..n-1.
func dialMany(b *testing.B, addr string, n int) []net.Conn {
	b.Helper()
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 256)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			nc.Write(wire.Append(nil, ptr(wire.Login(now(), uint32(i)))))
			var buf [20]byte
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := readFull(nc, buf[:]); err != nil {
				failed.Add(1)
				nc.Close()
				return
			}
			nc.SetReadDeadline(time.Time{})
			conns[i] = nc
		}(i)
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d connections failed", failed.Load(), n)
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := nc.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// drive sends total SHAKEs spread over conns, one in flight per
// connection, and waits for every answer.
func drive(b *testing.B, conns []net.Conn, total int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, nc := range conns {
		wg.Add(1)
		go func(nc net.Conn) {
			defer wg.Done()
			req := wire.Append(nil, ptr(wire.Shake(now(), 0)))
			var resp [28]byte
			for next.Add(1) <= int64(total) {
				if _, err := nc.Write(req); err != nil {
					b.Error(err)
					return
				}
				if _, err := readFull(nc, resp[:]); err != nil {
					b.Error(err)
					return
				}
			}
		}(nc)
	}
	wg.Wait()
}

// BenchmarkShakeInProcess: SHAKE round trips through an in-process
// server; allocations are the server's and the client's together.
func BenchmarkShakeInProcess(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			_, addr := startServer(b, Config{Sets: DefaultSets})
			conns := dialMany(b, addr, n)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			drive(b, conns, b.N)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "shakes/s")
		})
	}
}

// procCPU is a process's user+system CPU time from /proc.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// procRSS is a process's resident set size in bytes.
func procRSS(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func childStats(b *testing.B, c *child) Stats {
	var st Stats
	if err := json.Unmarshal(c.get("/v1/stats"), &st); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkServerChild drives an 'hbctl server' child process with
// 10,000 connections from this process and reports the round-trip rate
// and the server's CPU time per 10,000 SHAKEs (which is also the share
// of one core the server needs per 10,000 SHAKE/s).
func BenchmarkServerChild(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			srv := startChild(b, b.TempDir(), "--users", "0-999999")
			conns := dialMany(b, srv.wire, n)
			drive(b, conns, n) // warm up
			pid := srv.cmd.Process.Pid
			cpu0 := procCPU(b, pid)
			b.ResetTimer()
			start := time.Now()
			drive(b, conns, b.N)
			el := time.Since(start)
			b.StopTimer()
			cpu := procCPU(b, pid) - cpu0
			b.ReportMetric(float64(b.N)/el.Seconds(), "shakes/s")
			b.ReportMetric(cpu.Seconds()/float64(b.N)*10000, "server-cpu-s/10k-shakes")
		})
	}
}

// BenchmarkServerRSS measures an 'hbctl server' child's RSS with no
// connections (the fixed footprint) and with n logged-in idle ones.
// Run it with -benchtime=1x: it measures once, whatever b.N.
func BenchmarkServerRSS(b *testing.B) {
	for _, n := range []int{15000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			srv := startChild(b, b.TempDir(), "--users", "0-999999")
			pid := srv.cmd.Process.Pid
			childStats(b, srv)
			rss0 := procRSS(b, pid)
			conns := dialMany(b, srv.wire, n)
			waitFor(b, 30*time.Second, "connections", func() bool { return childStats(b, srv).Connections == int64(n) })
			rss1 := procRSS(b, pid)
			for i := 1; i < b.N; i++ {
				procRSS(b, pid)
			}
			b.ReportMetric(float64(rss0)/(1<<20), "fixed-MiB")
			b.ReportMetric(float64(rss1-rss0)/float64(len(conns))/1024, "KiB/conn")
		})
	}
}
