package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/runrecord"
)

// ErrNoTimeline is returned by Build when the data dir holds no timeline,
// or one without a single complete second.
var ErrNoTimeline = errors.New("no timeline")

// maxTimelineLine bounds one timeline line; a second with many agents is a
// few kilobytes.
const maxTimelineLine = 16 << 20

// timeline is what timeline.jsonl holds, seconds sorted by time.
type timeline struct {
	seconds []runrecord.TimelineSecond
	events  []api.Event
	bad     int // lines that were neither a second nor an event (a torn tail after a crash)
}

// readTimeline reads the JSON lines of a timeline. Unreadable lines are
// counted, not fatal: the file is appended to while a run goes on, and a
// crash can leave a torn last line. A second written twice keeps its last
// line.
func readTimeline(r io.Reader) (timeline, error) {
	var tl timeline
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxTimelineLine)
	bySecond := map[int64]int{}
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var probe struct {
			Event *string `json:"event"`
			T     *int64  `json:"t"`
		}
		if err := json.Unmarshal(line, &probe); err != nil {
			tl.bad++
			continue
		}
		switch {
		case probe.Event != nil:
			var e api.Event
			if err := json.Unmarshal(line, &e); err != nil {
				tl.bad++
				continue
			}
			tl.events = append(tl.events, e)
		case probe.T != nil:
			var s runrecord.TimelineSecond
			if err := json.Unmarshal(line, &s); err != nil {
				tl.bad++
				continue
			}
			if i, dup := bySecond[s.T]; dup {
				tl.seconds[i] = s
				continue
			}
			bySecond[s.T] = len(tl.seconds)
			tl.seconds = append(tl.seconds, s)
		default:
			tl.bad++
		}
	}
	if err := sc.Err(); err != nil {
		return tl, fmt.Errorf("read timeline: %w", err)
	}
	sort.SliceStable(tl.seconds, func(i, j int) bool { return tl.seconds[i].T < tl.seconds[j].T })
	sort.SliceStable(tl.events, func(i, j int) bool { return tl.events[i].T < tl.events[j].T })
	return tl, nil
}
