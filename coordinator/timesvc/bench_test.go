package timesvc

import (
	"net"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// BenchmarkExchange: one request and its answer over loopback, as one
// probe of an agent's round.
func BenchmarkExchange(b *testing.B) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve()
	defer s.Close()
	c, err := net.DialUDP("udp", nil, s.Addr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := request(1)
	buf := make([]byte, 64)
	var p api.TimePacket
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.UnmarshalBinary(buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
}
