package sim

// queue is a binary min-heap of events. less orders them; it must be a total order
// (break ties with a sequence number) so that runs are reproducible.
type queue[E any] struct {
	items []E
	less  func(a, b *E) bool
}

func (q *queue[E]) len() int { return len(q.items) }

func (q *queue[E]) peek() *E { return &q.items[0] }

func (q *queue[E]) push(e E) {
	q.items = append(q.items, e)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(&q.items[i], &q.items[p]) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

func (q *queue[E]) pop() E {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	var zero E
	q.items[last] = zero
	q.items = q.items[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.less(&q.items[l], &q.items[m]) {
			m = l
		}
		if r < last && q.less(&q.items[r], &q.items[m]) {
			m = r
		}
		if m == i {
			return top
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
}
