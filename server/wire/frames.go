package wire

// Constructors and accessors that name the body fields of each command, so
// callers never index Fields by hand.

// Login is LOGIN uid.
func Login(ts uint64, uid uint32) Frame {
	return Frame{Cmd: CmdLogin, Timestamp: ts, Fields: [MaxFields]uint32{uid}}
}

// LoginResp is LOGIN_RESP uid, result.
func LoginResp(ts uint64, uid, result uint32) Frame {
	return Frame{Cmd: CmdLoginResp, Timestamp: ts, Fields: [MaxFields]uint32{uid, result}}
}

// Shake is SHAKE uid.
func Shake(ts uint64, uid uint32) Frame {
	return Frame{Cmd: CmdShake, Timestamp: ts, Fields: [MaxFields]uint32{uid}}
}

// ShakeResp is SHAKE_RESP uid, result, envelope_id, amount.
func ShakeResp(ts uint64, uid, result, env, amount uint32) Frame {
	return Frame{Cmd: CmdShakeResp, Timestamp: ts, Fields: [MaxFields]uint32{uid, result, env, amount}}
}

// Envelope is ENVELOPE envelope_id, amount, count, uid1..uid3; uids beyond
// len(to) are 0. len(to) must be 1..MaxRecipients.
func Envelope(ts uint64, env, amount uint32, to []uint32) Frame {
	f := Frame{Cmd: CmdEnvelope, Timestamp: ts, Fields: [MaxFields]uint32{env, amount, uint32(len(to))}}
	copy(f.Fields[3:], to)
	return f
}

// Open is OPEN uid, envelope_id.
func Open(ts uint64, uid, env uint32) Frame {
	return Frame{Cmd: CmdOpen, Timestamp: ts, Fields: [MaxFields]uint32{uid, env}}
}

// OpenResp is OPEN_RESP envelope_id, amount.
func OpenResp(ts uint64, env, amount uint32) Frame {
	return Frame{Cmd: CmdOpenResp, Timestamp: ts, Fields: [MaxFields]uint32{env, amount}}
}

// UID is the uid field of LOGIN, LOGIN_RESP, SHAKE, SHAKE_RESP and OPEN.
func (f *Frame) UID() uint32 { return f.Fields[0] }

// Result is the result of LOGIN_RESP and SHAKE_RESP.
func (f *Frame) Result() uint32 { return f.Fields[1] }

// Env is the envelope id of SHAKE_RESP, ENVELOPE, OPEN and OPEN_RESP.
func (f *Frame) Env() uint32 {
	switch f.Cmd {
	case CmdShakeResp:
		return f.Fields[2]
	case CmdOpen:
		return f.Fields[1]
	default: // ENVELOPE, OPEN_RESP
		return f.Fields[0]
	}
}

// Amount is the amount in cents of SHAKE_RESP, ENVELOPE and OPEN_RESP.
func (f *Frame) Amount() uint32 {
	if f.Cmd == CmdShakeResp {
		return f.Fields[3]
	}
	return f.Fields[1] // ENVELOPE, OPEN_RESP
}

// Recipients is the uids an ENVELOPE names: its count field, capped at
// MaxRecipients (a larger count names only the three slots there are).
// uid 0 is a valid user, so the count, not zero slots, decides.
func (f *Frame) Recipients() []uint32 {
	n := f.Fields[2]
	if n > MaxRecipients {
		n = MaxRecipients
	}
	return f.Fields[3 : 3+n]
}

// Names reports whether an ENVELOPE names uid among its recipients.
func (f *Frame) Names(uid uint32) bool {
	for _, u := range f.Recipients() {
		if u == uid {
			return true
		}
	}
	return false
}
