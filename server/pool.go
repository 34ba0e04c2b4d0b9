package server

// envelope is a shake envelope waiting in a pool.
type envelope struct {
	id, amount uint32
}

// pool is a SET's FIFO of shake envelopes. Its owner's lock guards it.
type pool struct {
	items  []envelope
	head   int
	amount uint64
}

func (p *pool) push(e envelope) {
	if p.head > 0 && p.head == len(p.items) {
		p.items, p.head = p.items[:0], 0
	}
	p.items = append(p.items, e)
	p.amount += uint64(e.amount)
}

func (p *pool) pop() (envelope, bool) {
	if p.head == len(p.items) {
		return envelope{}, false
	}
	e := p.items[p.head]
	p.head++
	p.amount -= uint64(e.amount)
	if p.head == len(p.items) {
		p.items, p.head = p.items[:0], 0
	}
	return e, true
}

func (p *pool) len() int { return len(p.items) - p.head }
