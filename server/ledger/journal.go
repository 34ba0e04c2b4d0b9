package ledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by appends to a closed journal.
var ErrClosed = errors.New("ledger: journal closed")

// Journal is an append-only file of records with group commit: appends from
// many goroutines are written and fsynced together, and an append is
// acknowledged only once it is on disk, so a kill -9 never loses an event
// that was acknowledged.
//
// A commit that cannot be written (a full disk) is undone: the file is cut
// back to its last committed record, the commit's waiters get the error,
// and the journal reports itself failing (Healthy false) until a later
// commit or a Probe succeeds. Only when the file cannot even be cut back
// does the error stick (Err) and every later append fail.
type Journal struct {
	f    *os.File
	kick chan struct{} // signalled only on empty -> non-empty

	wmu sync.Mutex // serializes writes to f: the committer's and Probe's
	off int64      // wmu: end of the last committed record

	healthy atomic.Bool
	onFail  atomic.Pointer[func(error)]

	mu      sync.Mutex // guards the fields below
	buf     []byte     // encoded records not yet written
	waiters []func(error)
	closed  bool
	err     error // first write or sync error; sticky

	done chan struct{}
}

// Replay is what Open found in an existing journal.
type Replay struct {
	Records []Record
	// TornTail is set when the last line was cut short by a crash; it was
	// skipped and truncated away so new records start on a clean line.
	TornTail bool
}

// Open opens (creating if needed) the journal at path, replays what it
// holds and starts the committer. A torn last line is skipped with a
// warning; a bad line anywhere else is an error, never silently misread.
func Open(path string) (*Journal, Replay, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, Replay{}, fmt.Errorf("open journal: %w", err)
	}
	rp, good, err := read(f)
	if err != nil {
		f.Close()
		return nil, Replay{}, fmt.Errorf("journal %s: %w", path, err)
	}
	if rp.TornTail {
		slog.Warn("journal: skipped a torn last line left by a crash", "path", path, "offset", good)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, Replay{}, fmt.Errorf("truncate torn journal tail: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, Replay{}, fmt.Errorf("seek journal: %w", err)
	}
	j := &Journal{f: f, kick: make(chan struct{}, 1), done: make(chan struct{}), off: good}
	j.healthy.Store(true)
	go j.commitLoop()
	return j, rp, nil
}

// Read parses a whole journal stream, as served by an admin API. A torn
// last line is reported in Replay.TornTail and skipped.
func Read(r io.Reader) (Replay, error) {
	rp, _, err := read(r)
	return rp, err
}

// read returns the records, and the offset just past the last good line.
func read(r io.Reader) (Replay, int64, error) {
	var rp Replay
	br := bufio.NewReaderSize(r, 1<<16)
	var off int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && err == io.EOF {
			// No newline: the write of this line never finished.
			rp.TornTail = true
			return rp, off, nil
		}
		if err == io.EOF {
			return rp, off, nil
		}
		if err != nil {
			return rp, off, err
		}
		body := bytes.TrimSpace(line)
		if len(body) > 0 {
			rec, perr := ParseLine(body)
			if perr != nil {
				if _, peek := br.Peek(1); peek == io.EOF {
					// A complete last line that is garbage (a crash can
					// leave zeros on some file systems): torn as well.
					rp.TornTail = true
					return rp, off, nil
				}
				return rp, off, fmt.Errorf("line %d: %w", n, perr)
			}
			rp.Records = append(rp.Records, rec)
		}
		off += int64(len(line))
	}
}

// Append journals records and returns once they are durable.
func (j *Journal) Append(rs ...Record) error {
	ch := make(chan error, 1)
	j.AppendAsync(func(err error) { ch <- err }, rs...)
	return <-ch
}

// AppendAsync journals records and calls done once they are durable (or
// failed), from the committer goroutine: done must not block. Records
// appended by one goroutine are written in the order of its calls.
func (j *Journal) AppendAsync(done func(error), rs ...Record) {
	j.mu.Lock()
	if j.closed || j.err != nil {
		err := j.err
		if err == nil {
			err = ErrClosed
		}
		j.mu.Unlock()
		done(err)
		return
	}
	wasEmpty := len(j.waiters) == 0
	for i := range rs {
		j.buf = AppendJSON(j.buf, &rs[i])
	}
	j.waiters = append(j.waiters, done)
	if wasEmpty {
		// Under mu, so Close cannot close kick between check and send.
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
	j.mu.Unlock()
}

func (j *Journal) commitLoop() {
	defer close(j.done)
	var buf []byte
	var waiters []func(error)
	for range j.kick {
		for {
			j.mu.Lock()
			if len(j.waiters) == 0 {
				closed := j.closed
				j.mu.Unlock()
				if closed {
					return
				}
				break
			}
			// Swap buffers so appenders keep going while we write.
			buf, j.buf = j.buf, buf[:0]
			waiters, j.waiters = j.waiters, waiters[:0]
			j.mu.Unlock()

			err := j.commit(buf)
			j.failed(err)
			for _, w := range waiters {
				w(err)
			}
			clear(waiters)
		}
	}
}

// commit writes and syncs buf after the committed records. On failure it
// cuts the file back so no partial record stays, and marks the journal
// failing; if even that fails, the error sticks.
func (j *Journal) commit(buf []byte) error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	_, err := j.f.Write(buf)
	if err == nil {
		err = j.f.Sync()
	}
	if err == nil {
		j.off += int64(len(buf))
		j.healthy.Store(true)
		return nil
	}
	err = fmt.Errorf("journal write: %w", err)
	j.healthy.Store(false)
	if uerr := j.cutBack(); uerr != nil {
		err = fmt.Errorf("%w; cutting back the failed write: %w", err, uerr)
		j.mu.Lock()
		if j.err == nil {
			j.err = err
		}
		j.mu.Unlock()
	}
	return err
}

// cutBack truncates the file to the committed records. wmu must be held.
func (j *Journal) cutBack() error {
	if err := j.f.Truncate(j.off); err != nil {
		return err
	}
	if _, err := j.f.Seek(j.off, io.SeekStart); err != nil {
		return err
	}
	return j.f.Sync()
}

// OnFail makes f run once for every commit that cannot be written, on the
// committer's goroutine before the commit's waiters hear of it, whoever
// they are: a commit of records whose waiters ignore errors fails all the
// same. f must not block.
func (j *Journal) OnFail(f func(error)) { j.onFail.Store(&f) }

// failed tells OnFail's function of a commit's error, if any.
func (j *Journal) failed(err error) {
	if f := j.onFail.Load(); err != nil && f != nil {
		(*f)(err)
	}
}

// Healthy reports whether the last commit (or Probe) succeeded. While it
// is false, callers should not start what needs a record.
func (j *Journal) Healthy() bool { return j.healthy.Load() }

// ProbeSize is how much room Probe asks for: a batch of records.
const ProbeSize = 64 << 10

// Probe checks whether a failing journal can be written again, by writing
// ProbeSize bytes of blank lines (which readers skip) after the committed
// records, syncing and cutting them off again. It makes the journal
// healthy when that works. On a healthy journal it does nothing.
func (j *Journal) Probe() error {
	if j.Healthy() {
		return nil
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if err := j.Err(); err != nil {
		return err
	}
	_, err := j.f.Write(bytes.Repeat([]byte{'\n'}, ProbeSize))
	if err == nil {
		err = j.f.Sync()
	}
	if uerr := j.cutBack(); uerr != nil {
		err = errors.Join(err, uerr)
		j.mu.Lock()
		if j.err == nil {
			j.err = fmt.Errorf("journal probe: cutting back: %w", uerr)
		}
		j.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("journal probe: %w", err)
	}
	j.healthy.Store(true)
	return nil
}

// Err is the error that made the journal unusable (a failed write that
// could not be cut back), after which every append fails.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Close commits what is pending and closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	j.closed = true
	close(j.kick)
	j.mu.Unlock()
	<-j.done
	// Anything appended between the last kick and close is flushed here.
	j.mu.Lock()
	buf, waiters := j.buf, j.waiters
	j.buf, j.waiters = nil, nil
	j.mu.Unlock()
	var err error
	if len(buf) > 0 {
		err = j.commit(buf)
		j.failed(err)
	}
	for _, w := range waiters {
		w(err)
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}
