package agents

import (
	"slices"
	"time"

	"github.com/hbctl/hbctl/coordinator/schedule"
)

// lateStart is how far in the past a plan may start and still be fired
// from its first fire: a plan that reaches an agent a little late (network,
// a slow control call) keeps its exact per-second counts; one that started
// long ago (an agent restarted mid-run) starts from now instead of
// bursting every fire it never saw.
const lateStart = time.Second

// maxBatch bounds the fires one loop iteration sends, so reads are served
// even when an agent has fallen far behind its plan.
const maxBatch = 4096

// pacer walks a loop's own users' fires of the running plan. It lives in
// its loop and is touched only by it.
type pacer struct {
	plan *schedule.Plan   // running plan; nil when not firing
	cur  *schedule.Cursor // over the loop's owned users
	next *schedule.Plan   // a newer plan, taking over at its first segment's T
}

func clonePlan(p schedule.Plan) *schedule.Plan {
	p.Users = slices.Clone(p.Users)
	p.Segments = slices.Clone(p.Segments)
	return &p
}

func startOf(p *schedule.Plan) int64 { return p.Segments[0].T }

// from is where a cursor over p starts when it is installed at now.
func from(p *schedule.Plan, now int64) int64 {
	if t := startOf(p); t >= now-int64(lateStart) {
		return t
	}
	return now
}

// set installs p: the first plan starts at once (from its start), the same
// plan with more segments is followed in place, a newer one waits for its
// start, an older one is ignored (it reports false).
func (pc *pacer) set(p schedule.Plan, owned []schedule.Range, now int64) bool {
	if len(p.Segments) == 0 {
		return false
	}
	np := clonePlan(p)
	switch {
	case pc.plan == nil:
		pc.plan, pc.cur = np, np.Cursor(owned, from(np, now))
	case np.ID == pc.plan.ID:
		if !pc.cur.Follow(np) {
			pc.cur = np.Cursor(owned, pc.position(now))
		}
		pc.plan = np
	case np.ID > pc.plan.ID:
		if pc.next == nil || np.ID >= pc.next.ID {
			pc.next = np
		}
	default:
		return false
	}
	return true
}

// position is the intended time of the next fire not yet sent.
func (pc *pacer) position(now int64) int64 {
	if f, ok := pc.cur.Peek(); ok {
		return f.At
	}
	return now
}

// reown reopens the cursor over a new set of owned users, from the next
// fire not yet sent.
func (pc *pacer) reown(owned []schedule.Range, now int64) {
	if pc.plan != nil {
		pc.cur = pc.plan.Cursor(owned, pc.position(now))
	}
}

// peek is the next fire, switching to a waiting newer plan once the running
// plan's next fire reaches the newer plan's start.
func (pc *pacer) peek(owned []schedule.Range, now int64) (schedule.Fire, bool) {
	for {
		if pc.plan == nil {
			return schedule.Fire{}, false
		}
		f, ok := pc.cur.Peek()
		if pc.next != nil && (!ok || f.At >= startOf(pc.next)) {
			pc.plan, pc.next = pc.next, nil
			pc.cur = pc.plan.Cursor(owned, from(pc.plan, now))
			continue
		}
		return f, ok
	}
}

func (pc *pacer) stop() { *pc = pacer{} }

// rate is the running plan's rate at t (what the whole plan fires, not
// this agent's share).
func (pc *pacer) rate(t int64) int64 {
	if pc.plan == nil {
		return 0
	}
	return pc.plan.RateAt(t)
}

func (pc *pacer) id() uint64 {
	if pc.plan == nil {
		return 0
	}
	return pc.plan.ID
}
