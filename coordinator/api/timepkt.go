package api

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The time packet of the coordinator's UDP time service. A client sends a
// request carrying its send time T1; the service answers with the same
// packet, T1 echoed, T2 its receive time and T3 its send time. All times
// are Unix nanoseconds; every integer is big-endian.
//
//	offset size field
//	0      4    magic "HBT1"
//	4      1    version (TimeVersion)
//	5      1    kind (TimeRequest or TimeResponse)
//	6      2    reserved, zero
//	8      8    t1: client send time (client clock)
//	16     8    t2: service receive time (service clock), 0 in a request
//	24     8    t3: service send time (service clock), 0 in a request
//
// Requests and responses have the same size, so the service cannot be used
// to amplify traffic toward a spoofed address.
const (
	TimeMagic     = "HBT1"
	TimeVersion   = 1
	TimePacketLen = 32
)

// TimeKind tells a request from a response.
type TimeKind uint8

// The two kinds of time packet.
const (
	TimeRequest  TimeKind = 1
	TimeResponse TimeKind = 2
)

// Errors UnmarshalBinary returns.
var (
	ErrTimeSize    = errors.New("api: time packet has the wrong size")
	ErrTimeMagic   = errors.New("api: not a time packet")
	ErrTimeVersion = errors.New("api: unsupported time packet version")
	ErrTimeKind    = errors.New("api: unknown time packet kind")
)

// TimePacket is one request or response of the time service.
type TimePacket struct {
	Kind       TimeKind
	T1, T2, T3 int64
}

// AppendBinary appends the encoded packet to dst.
func (p *TimePacket) AppendBinary(dst []byte) ([]byte, error) {
	if p.Kind != TimeRequest && p.Kind != TimeResponse {
		return dst, fmt.Errorf("%w: %d", ErrTimeKind, p.Kind)
	}
	dst = append(dst, TimeMagic...)
	dst = append(dst, TimeVersion, byte(p.Kind), 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.T1))
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.T2))
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.T3))
	return dst, nil
}

// MarshalBinary encodes the packet.
func (p *TimePacket) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, TimePacketLen))
}

// UnmarshalBinary decodes exactly one packet; anything else (a short or
// long datagram, another protocol, an unknown version or kind) is an error
// and leaves p unchanged. Reserved bytes are ignored, so later versions may
// use them.
func (p *TimePacket) UnmarshalBinary(b []byte) error {
	if len(b) != TimePacketLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrTimeSize, len(b), TimePacketLen)
	}
	if string(b[0:4]) != TimeMagic {
		return fmt.Errorf("%w: magic %q", ErrTimeMagic, b[0:4])
	}
	if b[4] != TimeVersion {
		return fmt.Errorf("%w: %d", ErrTimeVersion, b[4])
	}
	kind := TimeKind(b[5])
	if kind != TimeRequest && kind != TimeResponse {
		return fmt.Errorf("%w: %d", ErrTimeKind, kind)
	}
	*p = TimePacket{
		Kind: kind,
		T1:   int64(binary.BigEndian.Uint64(b[8:16])),
		T2:   int64(binary.BigEndian.Uint64(b[16:24])),
		T3:   int64(binary.BigEndian.Uint64(b[24:32])),
	}
	return nil
}
