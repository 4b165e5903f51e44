package sketch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// TopKCapacity is the default number of counters of a TopK.
const TopKCapacity = 10000

// TopK counts values exactly while it has seen at most its capacity of
// distinct values, then switches to the space-saving algorithm (Metwally et
// al. 2005): a new value takes over the counter with the smallest count. In
// that mode every value occurring more than n/capacity times is kept, and
// each reported count overestimates the truth by at most its Err (itself at
// most n/capacity). Values are identified by their 64-bit Hash, so a
// collision (probability about d²/2^65 for d distinct values) merges two
// values.
type TopK struct {
	capacity int
	total    int64
	exact    bool
	index    map[uint64]int32
	slots    []topSlot
	heap     []int32 // min-heap of slot indices by count; built on the first eviction
}

type topSlot struct {
	hash  uint64
	key   []byte
	count int64
	err   int64
	pos   int32 // position in heap
}

// Item is one counted value.
type Item struct {
	Value string
	Count int64 // upper bound on the true count; exact when Err is 0
	Err   int64 // count - Err is a lower bound
}

// NewTopK returns an empty counter with room for capacity values (>= 1).
func NewTopK(capacity int) *TopK {
	capacity = max(capacity, 1)
	return &TopK{capacity: capacity, exact: true, index: make(map[uint64]int32)}
}

// Exact reports whether every count is exact (no value was ever evicted).
func (t *TopK) Exact() bool { return t.exact }

// Total is the number of values added.
func (t *TopK) Total() int64 { return t.total }

// Capacity is the most values counted at once.
func (t *TopK) Capacity() int { return t.capacity }

// Len is the number of values being counted.
func (t *TopK) Len() int { return len(t.slots) }

// Add counts value once; hash must be Hash(value).
func (t *TopK) Add(hash uint64, value []byte) { t.AddN(hash, value, 1, 0) }

// AddN counts value n times with an error bound err (0 for exact counts).
func (t *TopK) AddN(hash uint64, value []byte, n, err int64) {
	if n <= 0 {
		return
	}
	t.total += n
	if i, ok := t.index[hash]; ok {
		s := &t.slots[i]
		s.count += n
		s.err += err
		if t.heap != nil {
			t.down(int(s.pos))
		}
		return
	}
	if len(t.slots) < t.capacity {
		t.index[hash] = int32(len(t.slots))
		t.slots = append(t.slots, topSlot{hash: hash, key: bytes.Clone(value), count: n, err: err, pos: int32(len(t.slots))})
		if t.heap != nil {
			t.heap = append(t.heap, int32(len(t.slots)-1))
			t.up(len(t.heap) - 1)
		}
		return
	}
	if t.heap == nil {
		t.buildHeap()
	}
	t.exact = false
	i := t.heap[0]
	s := &t.slots[i]
	delete(t.index, s.hash)
	t.index[hash] = i
	s.hash = hash
	s.key = append(s.key[:0], value...)
	s.err = s.count + err
	s.count += n
	t.down(0)
}

func (t *TopK) buildHeap() {
	t.heap = make([]int32, len(t.slots))
	for i := range t.slots {
		t.heap[i] = int32(i)
		t.slots[i].pos = int32(i)
	}
	for i := len(t.heap)/2 - 1; i >= 0; i-- {
		t.down(i)
	}
}

func (t *TopK) less(a, b int) bool { return t.slots[t.heap[a]].count < t.slots[t.heap[b]].count }

func (t *TopK) swap(a, b int) {
	t.heap[a], t.heap[b] = t.heap[b], t.heap[a]
	t.slots[t.heap[a]].pos = int32(a)
	t.slots[t.heap[b]].pos = int32(b)
}

func (t *TopK) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && t.less(r, l) {
			j = r
		}
		if !t.less(j, i) {
			return
		}
		t.swap(i, j)
		i = j
	}
}

func (t *TopK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

// Top returns the k values with the highest counts, highest first (ties by
// value), or all of them when k <= 0.
func (t *TopK) Top(k int) []Item {
	idx := make([]int, len(t.slots))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		sa, sb := &t.slots[a], &t.slots[b]
		if sa.count != sb.count {
			if sa.count > sb.count {
				return -1
			}
			return 1
		}
		return bytes.Compare(sa.key, sb.key)
	})
	if k > 0 && k < len(idx) {
		idx = idx[:k]
	}
	out := make([]Item, len(idx))
	for i, j := range idx {
		s := &t.slots[j]
		out[i] = Item{Value: string(s.key), Count: s.count, Err: s.err}
	}
	return out
}

// Merge adds o's counts to t. Values counted by both add up; when the union
// exceeds t's capacity the smallest counts are evicted as in Add, so the
// result keeps the space-saving guarantee for the combined stream.
func (t *TopK) Merge(o *TopK) {
	if !o.exact {
		t.exact = false
	}
	// largest first, so evictions fall on the small counts
	for _, it := range o.Top(0) {
		t.AddN(HashString(it.Value), []byte(it.Value), it.Count, it.Err)
	}
}

// Binary layout (little endian): byte 'T', byte version 1, uint32 capacity,
// uint64 total, byte exact, uint32 count, then per value: uint64 count,
// uint64 err, uint32 length, bytes.
const topVersion = 1

// MarshalBinary encodes t (values in Top order).
func (t *TopK) MarshalBinary() ([]byte, error) {
	out := []byte{'T', topVersion}
	out = binary.LittleEndian.AppendUint32(out, uint32(t.capacity))
	out = binary.LittleEndian.AppendUint64(out, uint64(t.total))
	ex := byte(0)
	if t.exact {
		ex = 1
	}
	out = append(out, ex)
	items := t.Top(0)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(items)))
	for _, it := range items {
		out = binary.LittleEndian.AppendUint64(out, uint64(it.Count))
		out = binary.LittleEndian.AppendUint64(out, uint64(it.Err))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(it.Value)))
		out = append(out, it.Value...)
	}
	return out, nil
}

var errTopData = errors.New("sketch: invalid top-k data")

// UnmarshalBinary replaces t with the counter encoded in data.
func (t *TopK) UnmarshalBinary(data []byte) error {
	if len(data) < 2 || data[0] != 'T' {
		return errTopData
	}
	if data[1] != topVersion {
		return fmt.Errorf("sketch: top-k version %d not supported", data[1])
	}
	d := data[2:]
	if len(d) < 17 {
		return errTopData
	}
	capacity := int(binary.LittleEndian.Uint32(d))
	total := int64(binary.LittleEndian.Uint64(d[4:]))
	exact := d[12] == 1
	n := int(binary.LittleEndian.Uint32(d[13:]))
	d = d[17:]
	if capacity < 1 || capacity > 1<<24 || n > capacity || total < 0 {
		return errTopData
	}
	nt := NewTopK(capacity)
	var sum int64
	for range n {
		if len(d) < 20 {
			return errTopData
		}
		c := int64(binary.LittleEndian.Uint64(d))
		e := int64(binary.LittleEndian.Uint64(d[8:]))
		l := int(binary.LittleEndian.Uint32(d[16:]))
		d = d[20:]
		if c <= 0 || e < 0 || e > c || l > len(d) {
			return errTopData
		}
		h := Hash(d[:l])
		if _, dup := nt.index[h]; dup {
			return errTopData
		}
		nt.AddN(h, d[:l], c, e)
		sum += c
		d = d[l:]
	}
	if len(d) != 0 || exact && sum != total {
		return errTopData
	}
	nt.total = total
	nt.exact = exact
	*t = *nt
	return nil
}

// String is a short description for debugging.
func (t *TopK) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "TopK(total=%d exact=%v", t.total, t.exact)
	for _, it := range t.Top(5) {
		fmt.Fprintf(&b, " %q:%d", it.Value, it.Count)
	}
	b.WriteString(")")
	return b.String()
}
