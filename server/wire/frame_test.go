package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ts = 1700000000

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectors are the test vectors of docs/protocol.md, byte for byte.
var vectors = []struct {
	name  string
	frame Frame
	hex   string
}{
	{"LOGIN uid=42", Login(ts, 42),
		"00 10 00 00 00 00 00 00 65 53 f1 00 00 00 00 2a"},
	{"LOGIN_RESP uid=42 result=0", LoginResp(ts, 42, LoginOK),
		"00 14 00 01 00 00 00 00 65 53 f1 00 00 00 00 2a 00 00 00 00"},
	{"SHAKE uid=7", Shake(ts, 7),
		"00 10 00 02 00 00 00 00 65 53 f1 00 00 00 00 07"},
	{"SHAKE_RESP got", ShakeResp(ts, 7, ResultGot, 1048577, 250),
		"00 1c 00 03 00 00 00 00 65 53 f1 00 00 00 00 07 00 00 00 0e 00 10 00 01 00 00 00 fa"},
	{"SHAKE_RESP none", ShakeResp(ts, 7, ResultNone, 0, 0),
		"00 1c 00 03 00 00 00 00 65 53 f1 00 00 00 00 07 00 00 00 0f 00 00 00 00 00 00 00 00"},
	{"ENVELOPE 3 recipients", Envelope(ts, 2097152, 300, []uint32{5, 9, 11}),
		"00 24 00 04 00 00 00 00 65 53 f1 00 00 20 00 00 00 00 01 2c 00 00 00 03 00 00 00 05 00 00 00 09 00 00 00 0b"},
	{"OPEN uid=9", Open(ts, 9, 2097152),
		"00 14 00 05 00 00 00 00 65 53 f1 00 00 00 00 09 00 20 00 00"},
	{"OPEN_RESP amount=120", OpenResp(ts, 2097152, 120),
		"00 14 00 06 00 00 00 00 65 53 f1 00 00 20 00 00 00 00 00 78"},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			want := unhex(t, v.hex)
			if got := Append(nil, &v.frame); !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got % x\nwant % x", got, want)
			}
			var f Frame
			n, err := Decode(want, &f)
			if err != nil || n != len(want) {
				t.Fatalf("decode: n=%d err=%v", n, err)
			}
			if f != v.frame {
				t.Fatalf("decode: got %+v want %+v", f, v.frame)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	sr := ShakeResp(ts, 7, ResultGot, 1048577, 250)
	if sr.UID() != 7 || sr.Result() != ResultGot || sr.Env() != 1048577 || sr.Amount() != 250 {
		t.Fatalf("SHAKE_RESP accessors: %+v", sr)
	}
	env := Envelope(ts, 2097152, 300, []uint32{0, 9})
	if env.Env() != 2097152 || env.Amount() != 300 {
		t.Fatalf("ENVELOPE accessors: %+v", env)
	}
	// uid 0 is a valid recipient: count decides, not zero slots.
	if r := env.Recipients(); len(r) != 2 || r[0] != 0 || r[1] != 9 {
		t.Fatalf("recipients %v", r)
	}
	if !env.Names(0) || env.Names(11) {
		t.Fatal("Names wrong about uid 0 or a non-recipient")
	}
	op := Open(ts, 9, 2097152)
	if op.UID() != 9 || op.Env() != 2097152 {
		t.Fatalf("OPEN accessors: %+v", op)
	}
	or := OpenResp(ts, 2097152, 120)
	if or.Env() != 2097152 || or.Amount() != 120 {
		t.Fatalf("OPEN_RESP accessors: %+v", or)
	}
	// A count beyond three names only the slots there are.
	bad := Frame{Cmd: CmdEnvelope, Fields: [MaxFields]uint32{1, 2, 99, 4, 5, 6}}
	if len(bad.Recipients()) != MaxRecipients {
		t.Fatal("count above 3 must be capped")
	}
}

func TestDecodeErrors(t *testing.T) {
	login := unhex(t, vectors[0].hex)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		// Fewer than 4 bytes: the header cannot be judged yet.
		{"empty", nil, ErrShort},
		{"three bytes", login[:3], ErrShort},
		// A valid header whose body has not all arrived.
		{"truncated body", login[:14], ErrShort},
		// LOGIN must be 16 bytes long.
		{"length mismatch", append([]byte{0, 20}, login[2:]...), ErrBadLength},
		// A length shorter than the header itself.
		{"length below header", []byte{0, 4, 0, 0}, ErrBadLength},
		{"length zero", []byte{0, 0, 0, 2}, ErrBadLength},
		// cmd 7 and up are not in the protocol.
		{"unknown cmd", []byte{0, 16, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrUnknownCmd},
		{"unknown cmd high", []byte{0, 16, 0xff, 0xff}, ErrUnknownCmd},
		// Longer than ENVELOPE, the longest frame, whatever the cmd.
		{"oversized", []byte{0, 37, 0, 4}, ErrFrameTooLong},
		{"oversized max", []byte{0xff, 0xff, 0, 0}, ErrFrameTooLong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f Frame
			n, err := Decode(c.in, &f)
			if !errors.Is(err, c.want) || n != 0 {
				t.Fatalf("got n=%d err=%v, want %v", n, err, c.want)
			}
		})
	}
}

func TestDecodeStream(t *testing.T) {
	// Several frames back to back decode one after another, leaving the
	// rest of the buffer alone.
	var buf []byte
	for _, v := range vectors {
		buf = Append(buf, &v.frame)
	}
	for i := 0; len(buf) > 0; i++ {
		var f Frame
		n, err := Decode(buf, &f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f != vectors[i].frame {
			t.Fatalf("frame %d: got %+v", i, f)
		}
		buf = buf[n:]
	}
}

func TestDecodeClearsStaleFields(t *testing.T) {
	f := Envelope(ts, 1, 2, []uint32{3, 4, 5})
	b := unhex(t, vectors[2].hex) // SHAKE uid=7
	if _, err := Decode(b, &f); err != nil {
		t.Fatal(err)
	}
	if f != Shake(ts, 7) {
		t.Fatalf("stale fields left: %+v", f)
	}
}

func TestAppendUnknownPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on unknown command")
		}
	}()
	Append(nil, &Frame{Cmd: 9})
}

func FuzzDecode(f *testing.F) {
	for _, v := range vectors {
		f.Add(unhex(f, v.hex))
	}
	f.Add([]byte{0, 37, 0, 4})
	f.Add([]byte{0, 16, 0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		n, err := Decode(b, &fr)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with n=%d", n)
			}
			return
		}
		if n < HeaderLen || n > MaxFrameLen || n > len(b) {
			t.Fatalf("bad n=%d for %d bytes", n, len(b))
		}
		// A decoded frame re-encodes to exactly the bytes it came from.
		if got := Append(nil, &fr); !bytes.Equal(got, b[:n]) {
			t.Fatalf("round trip:\n got % x\nwant % x", got, b[:n])
		}
	})
}

// TestDocumentedVectors reads the test vectors docs/protocol.md gives to
// people who implement the protocol themselves: each must be one of the
// vectors above, byte for byte, and every vector above must be there, so
// the document and the codec cannot drift apart.
func TestDocumentedVectors(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Test vectors")
	if !ok {
		t.Fatal("docs/protocol.md has no Test vectors section")
	}
	known := map[string]bool{}
	for _, v := range vectors {
		known[v.hex] = true
	}
	found := map[string]bool{}
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.Trim(line, "0123456789abcdef ") != "" || len(line) < 12*3-1 {
			continue // a title, a fence or prose
		}
		if !known[line] {
			t.Errorf("docs/protocol.md vector %q is none the codec produces", line)
		}
		var f Frame
		if n, err := Decode(unhex(t, line), &f); err != nil || n != len(unhex(t, line)) {
			t.Errorf("docs/protocol.md vector %q does not decode: n=%d err=%v", line, n, err)
		}
		found[line] = true
	}
	for _, v := range vectors {
		if !found[v.hex] {
			t.Errorf("vector %s (%s) is missing from docs/protocol.md", v.name, v.hex)
		}
	}
}
