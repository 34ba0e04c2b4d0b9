package server

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkKernelFloor is the least CPU a SHAKE can cost a server that
// reads each request and writes each answer over loopback TCP: a 16-byte
// recv and a 28-byte send on each of n connections, with no epoll, no
// wake-ups and no Go code in between (raw non-blocking sockets, one
// thread; the same recv and write the loops use). On loopback the send includes the kernel's receive processing
// for the client's socket. ServerChild's server-cpu-s/10k-shakes is to be
// read against floor-cpu-s/10k-shakes.
func BenchmarkKernelFloor(b *testing.B) {
	// conns=5000 is 10,000 sockets, as many as ServerChild's server holds:
	// past the caches, which is most of a socket call's cost.
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			cl, sv := socketPairs(b, n)
			req, resp, buf := make([]byte, 16), make([]byte, 28), make([]byte, 4096)
			b.ReportAllocs()
			b.ResetTimer()
			var recvT, sendT time.Duration
			for done := 0; done < b.N; {
				k := min(n, b.N-done)
				for _, fd := range cl[:k] {
					unix.Write(fd, req)
				}
				t0 := cpuTime()
				for _, fd := range sv[:k] {
					recv(int32(fd), buf)
				}
				t1 := cpuTime()
				for _, fd := range sv[:k] {
					write(int32(fd), resp)
				}
				t2 := cpuTime()
				for _, fd := range cl[:k] {
					unix.Read(fd, buf)
				}
				recvT += t1 - t0
				sendT += t2 - t1
				done += k
			}
			b.ReportMetric(recvT.Seconds()/float64(b.N)*1e6, "recv-µs/op")
			b.ReportMetric(sendT.Seconds()/float64(b.N)*1e6, "send-µs/op")
			b.ReportMetric((recvT+sendT).Seconds()/float64(b.N)*10000, "floor-cpu-s/10k-shakes")
		})
	}
}

// socketPairs makes n connected loopback TCP pairs (client, server) of
// raw non-blocking sockets with TCP_NODELAY, outside Go's poller.
func socketPairs(b *testing.B, n int) (cl, sv []int) {
	b.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	if err := unix.Listen(lfd, 1024); err != nil {
		b.Fatal(err)
	}
	lsa, err := unix.Getsockname(lfd)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, fd := range append(cl, sv...) {
			unix.Close(fd)
		}
	})
	for i := 0; i < n; i++ {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		cl = append(cl, c)
		if err := unix.Connect(c, lsa); err != nil {
			b.Fatal(err)
		}
		s, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		sv = append(sv, s)
		for _, fd := range []int{c, s} {
			unix.SetNonblock(fd, true)
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
	}
	return cl, sv
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
