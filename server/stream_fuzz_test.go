package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/wire"
)

// FuzzStream sends a logged-in connection arbitrary bytes, cut into two
// writes at an arbitrary point, so that frames straddle reads. A stream of
// whole valid frames is answered frame for frame; a stream that breaks the
// protocol gets its connection closed and counted; either way the server
// keeps serving everybody else.
func FuzzStream(f *testing.F) {
	shake := wire.Append(nil, ptr(wire.Shake(1700000000, 7)))
	open := wire.Append(nil, ptr(wire.Open(1700000000, 7, SendIDBase)))
	login := wire.Append(nil, ptr(wire.Login(1700000000, 7)))
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	f.Add(cat(shake, shake, open), uint16(20))
	f.Add(cat(login, shake), uint16(3))
	f.Add(cat(shake, []byte{0, 16, 0, 9}), uint16(16))                           // unknown cmd after a SHAKE
	f.Add(cat(shake[:5]), uint16(2))                                             // a partial frame, then the end
	f.Add(cat(wire.Append(nil, ptr(wire.LoginResp(1, 7, 0))), shake), uint16(7)) // a server frame: tolerated

	// One server for every input: a fuzz worker runs thousands.
	s, addr := startServer(f, Config{Sets: 4, Loops: 2, Logger: discardLogger()})
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		want, valid := expectAnswers(data)
		errs0 := s.Stats().ProtocolErrors
		c := dial(t, addr)
		uid := uint32(cut) % 64
		c.login(uid)
		k := min(int(cut), len(data))
		c.sendRaw(data[:k])
		c.sendRaw(data[k:])
		c.nc.(*net.TCPConn).CloseWrite()
		got := map[wire.Cmd]int{}
		for {
			fr, err := c.read()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("server neither answered nor closed")
				}
				break // closed by the server
			}
			got[fr.Cmd]++
			if valid && got[wire.CmdShakeResp] == want[wire.CmdShakeResp] &&
				got[wire.CmdOpenResp] == want[wire.CmdOpenResp] && got[wire.CmdLoginResp] == want[wire.CmdLoginResp] {
				break
			}
		}
		if valid {
			for _, cmd := range []wire.Cmd{wire.CmdShakeResp, wire.CmdOpenResp, wire.CmdLoginResp} {
				if got[cmd] != want[cmd] {
					t.Fatalf("%d %s answers, want %d", got[cmd], cmd, want[cmd])
				}
			}
		} else {
			waitFor(t, 5*time.Second, "protocol error counted", func() bool { return s.Stats().ProtocolErrors > errs0 })
		}
		other := dial(t, addr)
		other.login(1000)
		if fr := other.shake(); fr.UID() != 1000 {
			t.Fatalf("other connection: %v", fr.Fields)
		}
	})
}

// expectAnswers decodes a client stream as the server does and counts the
// answers it owes; valid is false when the stream breaks the protocol.
func expectAnswers(b []byte) (want map[wire.Cmd]int, valid bool) {
	want = map[wire.Cmd]int{}
	var f wire.Frame
	for len(b) > 0 {
		n, err := wire.Decode(b, &f)
		if err == wire.ErrShort {
			return want, true // a partial frame at the end is just unfinished
		}
		if err != nil {
			return want, false
		}
		b = b[n:]
		switch f.Cmd {
		case wire.CmdShake:
			want[wire.CmdShakeResp]++
		case wire.CmdOpen:
			want[wire.CmdOpenResp]++
		case wire.CmdLogin:
			want[wire.CmdLoginResp]++
		}
	}
	return want, true
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
