package api

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestTimePacketVector(t *testing.T) {
	p := TimePacket{Kind: TimeResponse, T1: 1_770_000_000_123_456_789, T2: 1, T3: -2}
	want, _ := hex.DecodeString(strings.ReplaceAll(
		"48425431 01 02 0000 18904d9f4bcccd15 0000000000000001 fffffffffffffffe", " ", ""))
	got, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encode\n got % x\nwant % x", got, want)
	}
	var back TimePacket
	if err := back.UnmarshalBinary(got); err != nil || back != p {
		t.Fatalf("decode: %+v, %v", back, err)
	}
}

func TestTimePacketErrors(t *testing.T) {
	good, _ := (&TimePacket{Kind: TimeRequest, T1: 5}).MarshalBinary()
	with := func(off int, b byte) []byte {
		c := bytes.Clone(good)
		c[off] = b
		return c
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		// An empty datagram.
		{"empty", nil, ErrTimeSize},
		// One byte short: a truncated packet.
		{"short", good[:TimePacketLen-1], ErrTimeSize},
		// One byte long: not silently truncated into a valid one.
		{"long", append(bytes.Clone(good), 0), ErrTimeSize},
		// Another protocol that happens to have the size.
		{"bad magic", with(0, 'X'), ErrTimeMagic},
		// A future version this code cannot read.
		{"version 2", with(4, 2), ErrTimeVersion},
		// Kind 0 and 3 are not requests or responses.
		{"kind 0", with(5, 0), ErrTimeKind},
		{"kind 3", with(5, 3), ErrTimeKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := TimePacket{Kind: TimeResponse, T1: 99}
			if err := p.UnmarshalBinary(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if p != (TimePacket{Kind: TimeResponse, T1: 99}) {
				t.Fatalf("failed decode changed the packet: %+v", p)
			}
		})
	}
	// Reserved bytes are ignored.
	var p TimePacket
	if err := p.UnmarshalBinary(with(7, 0xff)); err != nil || p.T1 != 5 {
		t.Fatalf("reserved byte set: %+v, %v", p, err)
	}
	// Encoding refuses an unknown kind.
	if _, err := (&TimePacket{Kind: 9}).MarshalBinary(); !errors.Is(err, ErrTimeKind) {
		t.Fatalf("encode kind 9: %v", err)
	}
}

func TestTimePacketZeroAllocs(t *testing.T) {
	buf := make([]byte, 0, TimePacketLen)
	p := TimePacket{Kind: TimeRequest, T1: 42}
	var out TimePacket
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = p.AppendBinary(buf[:0])
		if err := out.UnmarshalBinary(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocs per encode+decode", n)
	}
}

func FuzzTimePacket(f *testing.F) {
	for _, p := range []TimePacket{
		{Kind: TimeRequest, T1: 1_770_000_000_000_000_000},
		{Kind: TimeResponse, T1: 1, T2: 2, T3: 3},
	} {
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte("HBT1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p TimePacket
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes, reserved ones
		// aside.
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", p, err)
		}
		in := bytes.Clone(b)
		in[6], in[7] = 0, 0
		if !bytes.Equal(out, in) {
			t.Fatalf("round trip\n  in % x\n out % x", in, out)
		}
	})
}
