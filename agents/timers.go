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

// fifo is a queue over a slice that is reused once drained, so a steady
// flow of pushes and pops allocates nothing.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) push(v T) {
	if q.head > 0 && q.head >= len(q.items)/2 {
		// Reclaim the popped half instead of growing.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, v)
}

func (q *fifo[T]) front() (T, bool) {
	if q.head == len(q.items) {
		var zero T
		return zero, false
	}
	return q.items[q.head], true
}

func (q *fifo[T]) pop() {
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
}

func (q *fifo[T]) clear() { q.items, q.head = q.items[:0], 0 }

// expiry is when a SHAKE's timeout runs from: conn idx, while still of
// generation gen, sent one for its fire at at.
type expiry struct {
	at  int64
	idx int32
	gen uint32
}
