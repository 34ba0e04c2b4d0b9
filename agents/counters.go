package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

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

// checkpoint writes counters.json atomically: a temp file, fsynced, then
// renamed over the old one and the directory fsynced. opMu must be held.
func (e *Engine) checkpoint() error {
	cp := Checkpoint{Agent: e.cfg.Name, T: e.cfg.Now() / int64(time.Millisecond), Users: e.users()}
	b, err := json.Marshal(&cp)
	if err != nil {
		return fmt.Errorf("encode counters: %w", err)
	}
	path := filepath.Join(e.cfg.DataDir, CountersFile)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	if d, err := os.Open(e.cfg.DataDir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
