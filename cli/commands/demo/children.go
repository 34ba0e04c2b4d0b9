package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopGrace is how long a child has to exit after SIGTERM before it is
// killed.
const StopGrace = 5 * time.Second

// child is one hbctl process the demo started: a re-exec of its own
// binary, in its own process group so that a Ctrl-C at the terminal
// reaches only the demo, which then stops its children in order.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string

	mu    sync.Mutex
	lines []string // stdout lines so far
	done  chan struct{}
	err   error // mu: how it exited, once done is closed
}

// children are the demo's processes, stopped in reverse start order.
type children struct {
	exe  string
	logs string

	mu   sync.Mutex
	list []*child // mu
}

// start runs `hbctl args...` with its stdout and stderr in logs/name.log.
func (cs *children) start(name string, args ...string) (*child, error) {
	ch := &child{name: name, log: filepath.Join(cs.logs, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(ch.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	ch.cmd = exec.Command(cs.exe, args...)
	ch.cmd.Env = childEnv()
	ch.cmd.Stderr = f
	ch.cmd.SysProcAttr = sysProcAttr()
	out, err := ch.cmd.StdoutPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := ch.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cs.mu.Lock()
	cs.list = append(cs.list, ch)
	cs.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(f, sc.Text())
			ch.mu.Lock()
			ch.lines = append(ch.lines, sc.Text())
			ch.mu.Unlock()
		}
		err := ch.cmd.Wait()
		f.Close()
		ch.mu.Lock()
		ch.err = err
		ch.mu.Unlock()
		close(ch.done)
	}()
	return ch, nil
}

// childEnv is the demo's environment without HBCTL_* variables: the
// demo's own settings (HBCTL_USERS, ...) must not leak into its
// children's flags of the same name.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HBCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// pids are the children's process IDs, in start order.
func (cs *children) pids() []int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]int, len(cs.list))
	for i, ch := range cs.list {
		out[i] = ch.cmd.Process.Pid
	}
	return out
}

// stopAll sends SIGTERM to every child by PID, newest first (agents, then
// the coordinator, then the server), waits up to StopGrace for each and
// kills the ones left.
func (cs *children) stopAll() {
	cs.mu.Lock()
	list := cs.list
	cs.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(StopGrace)
	for i := len(list) - 1; i >= 0; i-- {
		ch := list[i]
		select {
		case <-ch.done:
			continue
		case <-time.After(time.Until(deadline)):
		}
		ch.cmd.Process.Kill()
		<-ch.done
	}
}

// match waits until the child prints a stdout line matching re and
// returns its submatches.
func (ch *child) match(ctx context.Context, re *regexp.Regexp, within time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ch.mu.Lock()
		for _, l := range ch.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				ch.mu.Unlock()
				return m, nil
			}
		}
		ch.mu.Unlock()
		select {
		case <-ch.done:
			return nil, fmt.Errorf("%s exited (%v) before it was ready; see %s", ch.name, ch.err, ch.log)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%s not ready after %s; see %s", ch.name, within, ch.log)
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// anyExited names a child that has already exited, while none should.
func (cs *children) anyExited() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ch := range cs.list {
		select {
		case <-ch.done:
			ch.mu.Lock()
			defer ch.mu.Unlock()
			return fmt.Errorf("%s exited (%v); see %s", ch.name, ch.err, ch.log)
		default:
		}
	}
	return nil
}
