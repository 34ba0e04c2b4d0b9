package server

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hbctl/hbctl/internal/durable"
	"github.com/hbctl/hbctl/server/ledger"
)

// Files of the data dir that let the per-user counters survive a crash.
const (
	// CountersName is the per-user counters checkpoint, written every
	// CheckpointEvery (temp file, fsync, rename; only its time, in place,
	// when no counter changed) and on a clean stop.
	CountersName = "users.ckpt"
	// RestartsName lists, one JSON line each, the starts on this data dir
	// that followed a crash: the requests received between the last
	// checkpoint and the crash are in no counter.
	RestartsName = "restarts.jsonl"
	startName    = "server-start" // when the last incarnation started (Unix ms)
	cleanName    = "clean-stop"   // the last incarnation closed cleanly
)

// CheckpointEvery is how often the per-user counters are checkpointed.
const CheckpointEvery = time.Second

// countersMagic starts a checkpoint file; the format is little-endian:
// magic, version, t (Unix ms), count, then count rows of uid, shake, got,
// none, overloaded, open (u32 each).
const countersMagic = "HBUC"

// incarnation works out, before anything else reads the data dir, which
// start this is and whether the last one crashed, and restores the
// counters. The journal records are those replay saw.
func (s *Server) incarnation(recs []ledger.Record) error {
	dir := s.cfg.DataDir
	now := time.Now().UnixMilli()
	rs, err := readRestarts(filepath.Join(dir, RestartsName))
	if err != nil {
		return err
	}
	s.restarts = rs
	// The last start: "MS N", its time and incarnation number.
	var since int64
	prev := 0
	if b, err := os.ReadFile(filepath.Join(dir, startName)); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			since, _ = strconv.ParseInt(f[0], 10, 64)
			prev, _ = strconv.Atoi(f[1])
		}
	}
	s.incarn = prev + 1
	cp, cpT, err := readCounters(filepath.Join(dir, CountersName))
	if err != nil {
		return err
	}
	_, cerr := os.Stat(filepath.Join(dir, cleanName))
	clean := cerr == nil
	// Replaced by rename: a crash right now leaves the old start or the new.
	start := filepath.Join(dir, startName)
	err = durable.WriteFile(start+".tmp", []byte(fmt.Sprintf("%d %d\n", now, s.incarn)))
	if err == nil {
		err = os.Rename(start+".tmp", start)
	}
	if err != nil {
		return fmt.Errorf("server: record start: %w", err)
	}
	if clean {
		if err := os.Remove(filepath.Join(dir, cleanName)); err != nil {
			return fmt.Errorf("server: remove clean-stop marker: %w", err)
		}
	}
	s.restoreCounters(cp, recs)
	if clean || (since == 0 && len(recs) == 0 && cp == nil) {
		return nil // a clean stop, or a first start
	}
	// The last incarnation crashed. It counted from its start, or from its
	// last checkpoint: the window since then is in no counter. A data dir
	// with a journal but no start time says nothing of that window.
	r := Restart{Incarnation: s.incarn, CheckpointMillis: max(since, cpT), RestartMillis: now, Bounded: since > 0}
	line, _ := json.Marshal(r)
	if err := durable.Append(filepath.Join(dir, RestartsName), append(line, '\n')); err != nil {
		return fmt.Errorf("server: record restart: %w", err)
	}
	s.restarts = append(s.restarts, r)
	s.log.Warn("restarted after a crash: counters resumed from the checkpoint and the journal",
		"incarnation", s.incarn, "checkpoint_ms", r.CheckpointMillis, "bounded", r.Bounded)
	return nil
}

// restoreCounters puts the checkpoint's counters back, then brings them up
// to the journal: grants and first opens journaled after the checkpoint
// are requests it did not count.
func (s *Server) restoreCounters(cp []ledger.ServerUser, recs []ledger.Record) {
	n := uint32(len(s.sets))
	row := func(uid uint32) *userRow {
		if !s.cfg.Users.Contains(uid) {
			return nil
		}
		w := s.sets[uid%n]
		return w.users.row(&w.mu, uid)
	}
	for _, u := range cp {
		r := row(u.UID)
		if r == nil {
			continue
		}
		r.shake.Store(uint32(u.Shake))
		r.got.Store(uint32(u.Got))
		r.none.Store(uint32(u.None))
		r.overloaded.Store(uint32(u.Overloaded))
		r.open.Store(uint32(u.Open))
	}
	grants, opens := map[uint32]uint32{}, map[uint32]uint32{}
	for i := range recs {
		switch recs[i].Ev {
		case ledger.EvGrant:
			grants[recs[i].UID]++
		case ledger.EvOpen:
			opens[recs[i].UID]++
		}
	}
	for uid, g := range grants {
		if r := row(uid); r != nil && g > r.got.Load() {
			d := g - r.got.Load()
			r.got.Add(d)
			r.shake.Add(d)
		}
	}
	for uid, o := range opens {
		if r := row(uid); r != nil && o > r.open.Load() {
			r.open.Store(o)
		}
	}
}

func (s *Server) checkpointLoop() {
	defer s.wg.Done()
	t := time.NewTicker(CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			if err := s.checkpoint(); err != nil {
				s.log.Error("counters checkpoint failed", "err", err)
			}
		}
	}
}

// checkpoint writes every active user's counters. Its time is read
// before the counters, so they hold at least what was counted by then.
// The checkpoint loop and Close (after the loop has stopped) call it, one
// at a time: they share cpBuf, cpGens and cpFile.
//
// When no counter moved since the last whole write (an idle server), only
// the time is written, in place, over the file's: no reading of every
// user's counters, no temp file, rename and directory fsync every second.
// A SET's gen is bumped before and after each change of its counters, so
// gens equal to those read before the last write's rows mean no change
// began since, nor was one under way then that the rows might have missed;
// and a change under way at the new time had bumped its gen already. The
// time is kept fresh rather than left at the last change: after a crash it
// opens the window whose requests verification bounds by the plans (and
// whose notifications it excuses), and an idle stretch must not widen
// that window.
func (s *Server) checkpoint() error {
	t := time.Now().UnixMilli()
	if s.cpFile != nil && s.gensUnchanged() {
		var tb [8]byte
		binary.LittleEndian.PutUint64(tb[:], uint64(t))
		if err := durable.RewriteAt(s.cpFile, tb[:], 8); err == nil {
			return nil
		}
		s.closeCheckpoint() // written whole instead, through a new file
	}
	gens := s.readGens(s.cpGens[:0])
	b := append(s.cpBuf[:0], countersMagic...)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(t))
	b = binary.LittleEndian.AppendUint32(b, 0) // the count, filled in below
	total := 0
	for i, w := range s.sets {
		var n int
		b, n = w.users.appendCheckpoint(&w.mu, i, b)
		total += n
	}
	binary.LittleEndian.PutUint32(b[16:], uint32(total))
	s.cpBuf = b
	s.closeCheckpoint()
	f, err := durable.Replace(filepath.Join(s.cfg.DataDir, CountersName), b)
	if err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	// Kept open: it is users.ckpt now, and an idle second rewrites its
	// time through it.
	s.cpFile, s.cpGens = f, gens
	return nil
}

// readGens appends every SET's gen, in order, to dst.
func (s *Server) readGens(dst []uint64) []uint64 {
	for _, w := range s.sets {
		dst = append(dst, w.gen.Load())
	}
	return dst
}

// gensUnchanged reports whether every SET's gen is still as in cpGens.
func (s *Server) gensUnchanged() bool {
	for i, w := range s.sets {
		if w.gen.Load() != s.cpGens[i] {
			return false
		}
	}
	return true
}

func (s *Server) closeCheckpoint() {
	if s.cpFile != nil {
		s.cpFile.Close()
		s.cpFile = nil
	}
}

// readCounters reads a checkpoint; nil and 0 when there is none.
func readCounters(path string) ([]ledger.ServerUser, int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("server: read counters: %w", err)
	}
	bad := fmt.Errorf("server: counters checkpoint %s is corrupt: %w", path, ErrCorruptCounters)
	if len(b) < 20 || string(b[:4]) != countersMagic || binary.LittleEndian.Uint32(b[4:]) != 1 {
		return nil, 0, bad
	}
	t := int64(binary.LittleEndian.Uint64(b[8:]))
	n := int(binary.LittleEndian.Uint32(b[16:]))
	if len(b) != 20+24*n {
		return nil, 0, bad
	}
	out := make([]ledger.ServerUser, n)
	for i := range out {
		p := b[20+24*i:]
		f := func(k int) uint32 { return binary.LittleEndian.Uint32(p[4*k:]) }
		out[i] = ledger.ServerUser{UID: f(0), Shake: uint64(f(1)), Got: uint64(f(2)), None: uint64(f(3)),
			Overloaded: uint64(f(4)), Open: uint64(f(5))}
	}
	return out, t, nil
}

// ErrCorruptCounters: the checkpoint cannot be read. It is written by
// rename, so this is not a crash's doing; the server refuses to start
// rather than count from zero unnoticed.
var ErrCorruptCounters = errors.New("corrupt counters checkpoint")

func readRestarts(path string) ([]Restart, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: read restarts: %w", err)
	}
	defer f.Close()
	var out []Restart
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Restart
		// A torn last line (killed while writing) is dropped: that restart
		// never completed, the next start records its own.
		if len(sc.Bytes()) > 0 && json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}
