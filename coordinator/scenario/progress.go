package scenario

import (
	"fmt"
	"time"
)

// printf writes a step log line, clearing the progress line first on a
// terminal.
func (r *runner) printf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drawn {
		fmt.Fprint(r.cfg.Out, "\r\033[K")
		r.drawn = false
	}
	fmt.Fprintf(r.cfg.Out, format, a...)
}

func (r *runner) setStep(s string) {
	r.mu.Lock()
	r.step = s
	r.mu.Unlock()
}

// progress draws the one-line view of the run: redrawn in place every
// poll on a terminal, a plain line every ProgressEvery otherwise.
func (r *runner) progress() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.polled {
		return
	}
	now := time.Now()
	if !r.cfg.TTY && now.Sub(r.printed) < r.cfg.ProgressEvery {
		return
	}
	line := progressLine(now.Sub(r.start), r.step, r.last)
	if r.cfg.TTY {
		fmt.Fprintf(r.cfg.Out, "\r\033[K%s", line)
		r.drawn = true
	} else {
		fmt.Fprintln(r.cfg.Out, line)
	}
	r.printed = now
}

// endProgress leaves the terminal on a fresh line.
func (r *runner) endProgress() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drawn {
		fmt.Fprintln(r.cfg.Out)
		r.drawn = false
	}
}
