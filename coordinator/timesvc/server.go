package timesvc

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// Server answers time requests on one UDP socket.
type Server struct {
	conn  *net.UDPConn
	clock func() int64
	delay func(seq uint64) time.Duration

	seq       atomic.Uint64 // requests answered (or scheduled to be)
	malformed atomic.Uint64 // datagrams that were not time requests

	closeOnce sync.Once
}

// Option configures a Server.
type Option func(*Server)

// WithClock replaces the service's clock (Unix ns); the default is the
// system clock.
func WithClock(now func() int64) Option {
	return func(s *Server) { s.clock = now }
}

// WithReplyDelay holds the reply to the seq-th request (from 0) for the
// returned duration after stamping it, as a slow return path would: the
// client sees a longer round trip that T2 and T3 do not explain. A test
// hook for the client's least-delay selection; delayed replies are sent
// from timers, so they never hold up other clients.
func WithReplyDelay(delay func(seq uint64) time.Duration) Option {
	return func(s *Server) { s.delay = delay }
}

// Listen opens the service's UDP socket on addr ("host:port"; port 0
// picks one). Call Serve to answer requests.
func Listen(addr string, opts ...Option) (*Server, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("timesvc: resolve %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("timesvc: listen %q: %w", addr, err)
	}
	s := &Server{conn: conn, clock: func() int64 { return time.Now().UnixNano() }}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Addr is the address the service listens on (a *net.UDPAddr).
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Answered is the number of requests answered so far.
func (s *Server) Answered() uint64 { return s.seq.Load() }

// Malformed is the number of datagrams ignored because they were not time
// requests.
func (s *Server) Malformed() uint64 { return s.malformed.Load() }

// Serve answers requests until Close; it returns nil after Close and the
// socket's error otherwise. Each datagram is answered at once from this
// loop: stamping and one non-blocking UDP send, never a wait on a client.
func (s *Server) Serve() error {
	// One byte more than a packet, so that longer datagrams are seen as
	// such instead of being truncated to a valid-looking packet.
	buf := make([]byte, api.TimePacketLen+1)
	out := make([]byte, 0, api.TimePacketLen)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		t2 := s.clock()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("timesvc: read: %w", err)
		}
		var p api.TimePacket
		if err := p.UnmarshalBinary(buf[:n]); err != nil || p.Kind != api.TimeRequest {
			// Not ours, or an echo of a response: never answer it, so two
			// services cannot be made to ping-pong.
			s.malformed.Add(1)
			continue
		}
		seq := s.seq.Add(1) - 1
		p.Kind, p.T2 = api.TimeResponse, t2
		var d time.Duration
		if s.delay != nil {
			d = s.delay(seq)
		}
		if d <= 0 {
			p.T3 = s.clock()
			out, _ = p.AppendBinary(out[:0])
			// A failed send (the client went away) concerns that client only.
			_, _ = s.conn.WriteToUDPAddrPort(out, from)
			continue
		}
		p.T3 = s.clock()
		reply, _ := p.MarshalBinary()
		time.AfterFunc(d, func() { _, _ = s.conn.WriteToUDPAddrPort(reply, from) })
	}
}

// Close stops Serve and closes the socket. Delayed replies still pending
// are dropped.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.conn.Close() })
	return err
}
