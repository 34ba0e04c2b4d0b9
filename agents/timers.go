package agents

// minHeap is a binary min-heap ordered by at; one per loop for each kind of
// deferred work, so that a loop never needs a goroutine or a runtime timer
// per user or per envelope.
type minHeap[T any] struct {
	items []heapItem[T]
}

type heapItem[T any] struct {
	at int64
	v  T
}

func (h *minHeap[T]) Len() int { return len(h.items) }

// Top is the earliest deadline; ok is false when the heap is empty.
func (h *minHeap[T]) Top() (at int64, ok bool) {
	if len(h.items) == 0 {
		return 0, false
	}
	return h.items[0].at, true
}

func (h *minHeap[T]) Push(at int64, v T) {
	h.items = append(h.items, heapItem[T]{at, v})
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.items[p].at <= h.items[i].at {
			break
		}
		h.items[p], h.items[i] = h.items[i], h.items[p]
		i = p
	}
}

func (h *minHeap[T]) Pop() (int64, T) {
	top := h.items[0]
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	h.items = h.items[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.items[l].at < h.items[m].at {
			m = l
		}
		if r < n && h.items[r].at < h.items[m].at {
			m = r
		}
		if m == i {
			break
		}
		h.items[m], h.items[i] = h.items[i], h.items[m]
		i = m
	}
	return top.at, top.v
}

func (h *minHeap[T]) Clear() { h.items = h.items[:0] }

// openTimer is an OPEN due for uid.
type openTimer struct {
	uid uint32
	env uint32
}
