package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Cmd is a frame's command id.
type Cmd uint16

// The commands of docs/protocol.md.
const (
	CmdLogin     Cmd = 0
	CmdLoginResp Cmd = 1
	CmdShake     Cmd = 2
	CmdShakeResp Cmd = 3
	CmdEnvelope  Cmd = 4
	CmdOpen      Cmd = 5
	CmdOpenResp  Cmd = 6
)

// SHAKE_RESP results. The odd values are what deployed servers send.
const (
	ResultGot        uint32 = 14
	ResultNone       uint32 = 15
	ResultEmpty      uint32 = 16 // reserved: no envelopes left; treat as ResultNone
	ResultOverloaded uint32 = 17
)

// LOGIN_RESP results.
const (
	LoginOK       uint32 = 0
	LoginRejected uint32 = 1
)

const (
	// HeaderLen is the size of every frame's header.
	HeaderLen = 12
	// MaxFields is the largest body, ENVELOPE's six u32 fields.
	MaxFields = 6
	// MaxFrameLen is the longest valid frame (ENVELOPE).
	MaxFrameLen = HeaderLen + 4*MaxFields
	// MaxRecipients is how many uids an ENVELOPE can name.
	MaxRecipients = 3
)

// Errors the decoder returns. Each is a protocol error on which the receiver
// closes the connection, except ErrShort, which only asks for more bytes.
var (
	ErrShort        = errors.New("wire: incomplete frame")
	ErrUnknownCmd   = errors.New("wire: unknown command")
	ErrBadLength    = errors.New("wire: frame length does not match its command")
	ErrFrameTooLong = errors.New("wire: frame length exceeds the longest frame")
)

// bodyFields is the number of u32 body fields per command.
var bodyFields = [...]int{
	CmdLogin:     1,
	CmdLoginResp: 2,
	CmdShake:     1,
	CmdShakeResp: 4,
	CmdEnvelope:  6,
	CmdOpen:      2,
	CmdOpenResp:  2,
}

var cmdNames = [...]string{"LOGIN", "LOGIN_RESP", "SHAKE", "SHAKE_RESP", "ENVELOPE", "OPEN", "OPEN_RESP"}

// Known reports whether c is a command of the protocol.
func (c Cmd) Known() bool { return int(c) < len(bodyFields) }

// Len is the whole frame length of c, or 0 for an unknown command.
func (c Cmd) Len() int {
	if !c.Known() {
		return 0
	}
	return HeaderLen + 4*bodyFields[c]
}

func (c Cmd) String() string {
	if !c.Known() {
		return fmt.Sprintf("CMD(%d)", uint16(c))
	}
	return cmdNames[c]
}

// Frame is one decoded frame. Fields holds the body in protocol order; the
// accessors below name them per command. A Frame is a value: copying it
// never aliases a buffer.
type Frame struct {
	Cmd       Cmd
	Timestamp uint64
	Fields    [MaxFields]uint32
}

// Len is the encoded length of f.
func (f *Frame) Len() int { return f.Cmd.Len() }

// Header checks a frame header (at least 4 bytes: length and cmd) and
// returns the whole frame's length. It lets a reader reject a bad frame
// before its body arrives.
func Header(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, ErrShort
	}
	n := int(binary.BigEndian.Uint16(b))
	c := Cmd(binary.BigEndian.Uint16(b[2:]))
	switch {
	case n > MaxFrameLen:
		return 0, fmt.Errorf("%w: length %d, at most %d", ErrFrameTooLong, n, MaxFrameLen)
	case !c.Known():
		return 0, fmt.Errorf("%w: cmd %d", ErrUnknownCmd, uint16(c))
	case n != c.Len():
		return 0, fmt.Errorf("%w: %s has length %d, got %d", ErrBadLength, c, c.Len(), n)
	}
	return n, nil
}

// Decode decodes the frame at the start of b into f and returns its length.
// ErrShort means b holds a valid but incomplete frame; any other error is a
// protocol error. Bytes after the frame are left alone.
func Decode(b []byte, f *Frame) (int, error) {
	n, err := Header(b)
	if err != nil {
		return 0, err
	}
	if len(b) < n {
		return 0, ErrShort
	}
	f.Cmd = Cmd(binary.BigEndian.Uint16(b[2:]))
	f.Timestamp = binary.BigEndian.Uint64(b[4:])
	k := bodyFields[f.Cmd]
	for i := 0; i < k; i++ {
		f.Fields[i] = binary.BigEndian.Uint32(b[HeaderLen+4*i:])
	}
	for i := k; i < MaxFields; i++ {
		f.Fields[i] = 0
	}
	return n, nil
}

// Append encodes f onto dst and returns the extended slice. It encodes
// exactly the body fields of f.Cmd; an unknown command is a programming
// error and panics.
func Append(dst []byte, f *Frame) []byte {
	if !f.Cmd.Known() {
		panic(fmt.Sprintf("wire: encoding unknown command %d", uint16(f.Cmd)))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.Cmd.Len()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.Cmd))
	dst = binary.BigEndian.AppendUint64(dst, f.Timestamp)
	for i := 0; i < bodyFields[f.Cmd]; i++ {
		dst = binary.BigEndian.AppendUint32(dst, f.Fields[i])
	}
	return dst
}
