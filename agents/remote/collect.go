package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hbctl/hbctl/agents"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/internal/durable"
	"github.com/hbctl/hbctl/server/ledger"
)

// File names this package keeps in the engine's data dir, next to the
// engine's ledger and counters.
const (
	// RestartsFile lists, one JSON line each, the restarts that resumed
	// from a counters checkpoint without a clean stop before: requests
	// sent between the checkpoint and the restart are in no counter, and
	// verification bounds them by the schedule.
	RestartsFile = "restarts.jsonl"
	// cleanStopFile marks that the last engine was closed cleanly (its
	// last checkpoint covers everything it sent).
	cleanStopFile = "clean-stop"
	// startFile holds when the last engine started (Unix ms): an engine
	// killed before its first checkpoint counted nothing since then.
	startFile = "engine-start"
)

// noteStart is called before an engine is created on the data dir. Unless
// the last engine stopped cleanly, it was killed: what it sent after its
// last checkpoint (or after its start, if it never wrote one) is in no
// counter, and that span up to now is recorded as a restart.
func (a *Agent) noteStart() {
	dir := a.cfg.Engine.DataDir
	now := a.Now() / int64(time.Millisecond)
	// The previous start is read before this one is written.
	var since int64
	if b, err := os.ReadFile(filepath.Join(dir, startFile)); err == nil {
		since, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(filepath.Join(dir, startFile), []byte(strconv.FormatInt(now, 10)+"\n"), 0o644)
		if err != nil {
			a.log.Error("record engine start", "err", err)
		}
	}
	clean := filepath.Join(dir, cleanStopFile)
	if _, err := os.Stat(clean); err == nil {
		if err := os.Remove(clean); err != nil {
			a.log.Error("remove clean-stop marker", "err", err)
		}
		return
	}
	if b, err := os.ReadFile(filepath.Join(dir, agents.CountersFile)); err == nil {
		var cp agents.Checkpoint
		if json.Unmarshal(b, &cp) == nil {
			since = max(since, cp.T)
		}
	}
	if since == 0 {
		return // a first start: nothing was counted before
	}
	r := api.Restart{CheckpointMillis: since, RestartMillis: now}
	line, _ := json.Marshal(r)
	if err := durable.Append(filepath.Join(dir, RestartsFile), append(line, '\n')); err != nil {
		a.log.Error("record restart", "err", err)
		return
	}
	a.log.Warn("resumed after an unclean stop", "checkpoint_ms", r.CheckpointMillis, "restart_ms", r.RestartMillis)
}

// noteCleanStop marks the data dir as cleanly stopped.
func (a *Agent) noteCleanStop() {
	if err := os.WriteFile(filepath.Join(a.cfg.Engine.DataDir, cleanStopFile), nil, 0o644); err != nil {
		a.log.Error("write clean-stop marker", "err", err)
	}
}

func readRestarts(dir string) ([]api.Restart, error) {
	f, err := os.Open(filepath.Join(dir, RestartsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []api.Restart
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r api.Restart
		if len(sc.Bytes()) == 0 {
			continue
		}
		// A torn last line (killed while writing) is dropped: its restart
		// was not completed either.
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// collect answers a Collect: the pending count, and with Full the journal,
// the counters and the restarts.
func (a *Agent) collect(ctx context.Context, c api.Collect) {
	up := a.ledger(c)
	_, err := a.call(ctx, 60*time.Second, http.MethodPost,
		"/v1/agents/"+url.PathEscape(a.cfg.Name)+"/ledger", up, nil)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("ledger upload failed", "id", c.ID, "err", err)
	}
}

func (a *Agent) ledger(c api.Collect) api.AgentLedger {
	up := api.AgentLedger{ID: c.ID}
	a.mu.Lock()
	e := a.engine
	a.mu.Unlock()
	var users []ledger.ClientUser
	if e != nil {
		users = e.Users()
	} else {
		var err error
		if users, err = diskUsers(a.cfg.Engine.DataDir); err != nil {
			up.Error = err.Error()
			return up
		}
	}
	for _, u := range users {
		up.Pending += u.Pending
	}
	if !c.Full {
		return up
	}
	up.Users = users
	recs, err := readJournal(filepath.Join(a.cfg.Engine.DataDir, agents.LedgerFile))
	if err != nil {
		up.Error = err.Error()
		return up
	}
	up.Records = recs
	if up.Restarts, err = readRestarts(a.cfg.Engine.DataDir); err != nil {
		up.Error = fmt.Sprintf("read %s: %v", RestartsFile, err)
	}
	return up
}

// readJournal reads the client ledger as written so far. A missing file is
// an empty ledger (the agent never held a user).
func readJournal(path string) ([]ledger.Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent ledger: %w", err)
	}
	defer f.Close()
	rp, err := ledger.Read(f)
	if err != nil {
		return nil, fmt.Errorf("agent ledger %s: %w", path, err)
	}
	return rp.Records, nil
}

// diskUsers reads the counters checkpoint of an agent with no engine.
func diskUsers(dir string) ([]ledger.ClientUser, error) {
	b, err := os.ReadFile(filepath.Join(dir, agents.CountersFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent counters: %w", err)
	}
	var cp agents.Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("agent counters: %w", err)
	}
	return cp.Users, nil
}
