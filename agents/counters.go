package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hbctl/hbctl/internal/durable"
	"github.com/hbctl/hbctl/server/ledger"
)

// checkpointEvery is how often the counters are checkpointed.
const checkpointEvery = time.Second

// Checkpoint is the content of counters.json: every user's counters as of
// T. After a crash the counters resume from it, the journal adds what was
// journaled after it, and a reconciliation bounds the rest by the schedule.
type Checkpoint struct {
	Agent string              `json:"agent"`
	T     int64               `json:"t"` // Unix ms, coordinator clock
	Users []ledger.ClientUser `json:"users"`
}

func readCounters(path string) (Checkpoint, error) {
	var cp Checkpoint
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, fmt.Errorf("read counters: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("counters %s: %w", path, err)
	}
	return cp, nil
}

// resume rebuilds per-user counters from a checkpoint and the journal.
// SHAKEs pending at the checkpoint were lost with the process, except those
// the journal shows granted afterwards; grants beyond those were SHAKEs
// sent after the checkpoint. Opens are brought up to the journal alike.
func resume(cp Checkpoint, recs []ledger.Record) map[uint32]ledger.ClientUser {
	users := make(map[uint32]ledger.ClientUser, len(cp.Users))
	for _, u := range cp.Users {
		users[u.UID] = u
	}
	grants := make(map[uint32]uint64)
	opens := make(map[uint32]uint64)
	srv := make(map[uint32]string)
	for _, r := range recs {
		switch r.Ev {
		case ledger.EvGrant:
			grants[r.UID]++
		case ledger.EvOpen:
			opens[r.UID]++
		default:
			continue
		}
		srv[r.UID] = r.Srv
	}
	for uid, n := range grants {
		u := users[uid]
		u.UID = uid
		if u.Srv == "" {
			u.Srv = srv[uid]
		}
		if n > u.Got {
			d := n - u.Got
			fromPending := min(d, u.Pending)
			u.Pending -= fromPending
			u.Shake += d - fromPending
			u.Got = n
		}
		users[uid] = u
	}
	for uid, n := range opens {
		u := users[uid]
		u.UID = uid
		if u.Srv == "" {
			u.Srv = srv[uid]
		}
		if n > u.OpenAnswered {
			u.OpenAnswered = n
			u.OpenSent = max(u.OpenSent, n)
		}
		users[uid] = u
	}
	for uid, u := range users {
		u.Lost += u.Pending
		u.Pending = 0
		users[uid] = u
	}
	return users
}

func (e *Engine) checkpointLoop() {
	defer close(e.cpDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-e.stopCP:
			return
		case <-t.C:
			e.opMu.Lock()
			err := e.checkpoint()
			e.opMu.Unlock()
			if err != nil {
				e.log.Error("counters checkpoint failed", "err", err)
			}
		}
	}
}

// checkpoint makes counters.json hold every user's counters as of now.
// opMu must be held. Its T is read before the counters, so they hold at
// least what was counted by T.
//
// When no counter changed since the last write (the generations say so),
// only T is rewritten, in place: an idle agent does not encode and write
// every user's counters each second. That file is still exact: the
// generations are read after T, between loop iterations, so the counters
// it holds are the counters at a moment after T, as a full write's are.
//
// T is kept fresh rather than left as it was at the last change, though
// the counters would be as right with a stale T: after a crash T opens
// the span verification reads as "uncounted" (agents/remote records it;
// the coordinator bounds the requests the plans fired in it and excuses a
// recipient of a send in it that no ENVELOPE reached). A T left hours
// behind by an idle stretch would make that span hours long, and so
// excuse a notification missing on a healthy connection in it: a
// discrepancy hidden. A fresh T keeps the span what it was: from the
// last second before the crash.
func (e *Engine) checkpoint() error {
	t := e.cfg.Now() / int64(time.Millisecond)
	if gen, ok := e.countersGen(); ok && e.cp.f != nil && gen == e.cp.gen {
		if e.cp.refresh(t) {
			return nil
		}
	}
	return e.writeCheckpoint(t)
}

// cpFile is counters.json as last written, kept open so that a second in
// which no counter changed rewrites only its T.
type cpFile struct {
	f    *os.File // nil before the first write, and after a failed refresh
	gen  uint64   // the counters generation it holds
	tOff int64    // where T's digits are
	tLen int      // how many there are
	buf  []byte
}

// refresh writes t over the file's T, in place, and makes it durable. It
// reports false when it could not (t has another number of digits, or
// the write failed): the caller then writes the whole file.
//
// T lies within the file's first sector (durable.RewriteAt refuses
// otherwise), so a crash at any moment leaves the old T or the new one,
// never a mix; both hold for the counters that follow, which did not
// change between them.
func (c *cpFile) refresh(t int64) bool {
	c.buf = strconv.AppendInt(c.buf[:0], t, 10)
	if len(c.buf) != c.tLen {
		return false
	}
	if err := durable.RewriteAt(c.f, c.buf, c.tOff); err != nil {
		c.close()
		return false
	}
	return true
}

func (c *cpFile) close() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// countersGen is the sum of every loop's counters generation and the
// retired users': each only grows, so an equal sum means no counter
// changed. ok is false once a loop has stopped.
func (e *Engine) countersGen() (gen uint64, ok bool) {
	for _, l := range e.loops {
		if !l.call(func() { gen += l.cgen }) {
			return 0, false
		}
	}
	e.mu.Lock()
	gen += e.retiredGen
	e.mu.Unlock()
	return gen, true
}

// writeCheckpoint writes counters.json atomically (durable.Replace).
// opMu must be held.
func (e *Engine) writeCheckpoint(t int64) error {
	b := appendCheckpointHead(e.cpBuf[:0], e.cfg.Name, t)
	tEnd := len(b) - len(`,"users":[`)
	tLen := len(strconv.AppendInt(nil, t, 10))
	n := 0
	e.eachUser(&e.cpScratch, func(u *ledger.ClientUser) {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendClientUser(b, u)
		n++
	})
	if n == 0 {
		b = b[:len(b)-1]
		b = append(b, "null}"...) // as encoding/json writes no users
	} else {
		b = append(b, "]}"...)
	}
	e.cpBuf = b
	f, err := durable.Replace(filepath.Join(e.cfg.DataDir, CountersFile), b)
	if err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	// The file stays open: it is counters.json now, and the next seconds
	// without a change refresh its T through it.
	e.cp.close()
	e.cp.f, e.cp.gen, e.cp.tOff, e.cp.tLen = f, e.cpScratch.gen, int64(tEnd-tLen), tLen
	return nil
}

// appendCheckpoint appends the JSON of Checkpoint{agent, t, users} to dst,
// byte for byte what encoding/json writes, without its reflection and its
// allocations: the checkpoint runs every second over every user held.
func appendCheckpoint(dst []byte, agent string, t int64, users []ledger.ClientUser) []byte {
	dst = appendCheckpointHead(dst, agent, t)
	if users == nil {
		return append(dst[:len(dst)-1], "null}"...)
	}
	for i := range users {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendClientUser(dst, &users[i])
	}
	return append(dst, "]}"...)
}

// appendCheckpointHead is the checkpoint up to the opening bracket of
// its users.
func appendCheckpointHead(dst []byte, agent string, t int64) []byte {
	dst = append(dst, `{"agent":`...)
	dst = appendJSONString(dst, agent)
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	return append(dst, `,"users":[`...)
}

// appendClientUser follows the field order and tags of ledger.ClientUser.
func appendClientUser(dst []byte, u *ledger.ClientUser) []byte {
	dst = append(dst, `{"uid":`...)
	dst = strconv.AppendUint(dst, uint64(u.UID), 10)
	if u.Srv != "" {
		dst = append(dst, `,"srv":`...)
		dst = appendJSONString(dst, u.Srv)
	}
	for _, f := range [...]struct {
		key string
		v   uint64
	}{
		{`,"shake":`, u.Shake},
		{`,"got":`, u.Got},
		{`,"none":`, u.None},
		{`,"overloaded":`, u.Overloaded},
		{`,"lost":`, u.Lost},
		{`,"pending":`, u.Pending},
		{`,"unanswered":`, u.Unanswered},
		{`,"skipped":`, u.Skipped},
		{`,"open_sent":`, u.OpenSent},
		{`,"open_answered":`, u.OpenAnswered},
	} {
		dst = append(dst, f.key...)
		dst = strconv.AppendUint(dst, f.v, 10)
	}
	return append(dst, '}')
}

// appendJSONString quotes s as encoding/json does. Names and addresses are
// plain ASCII, copied as they are; anything else takes encoding/json's
// path.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
