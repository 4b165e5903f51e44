package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// HyperLogLog parameters: 2^14 registers give a standard error of
// 1.04/sqrt(16384) ≈ 0.81%.
const (
	HLLPrecision = 14
	hllRegisters = 1 << HLLPrecision
	hllQ         = 64 - HLLPrecision // bits left for the rank
	// HLLStdError is the relative standard error of Estimate in dense mode.
	HLLStdError = 0.0081
	// sparse mode keeps the distinct hashes themselves in an open-addressing
	// set until it holds sparseMax of them (about the dense size in bytes),
	// which makes small cardinalities exact.
	sparseSlots = 4096
	sparseMax   = sparseSlots * 3 / 4
)

// HLL is a HyperLogLog++ distinct counter over 64-bit hashes (see Hash,
// HashFloat). Below 3072 distinct hashes it is exact (sparse mode); above, it
// keeps 16384 six-bit registers and estimates with Ertl's improved raw
// estimator (no empirical bias tables needed). The zero value is not ready:
// use NewHLL.
type HLL struct {
	sparse  []uint64 // open-addressing set of non-zero hashes; nil in dense mode
	n       int      // entries in sparse
	hasZero bool     // hash 0 seen (sparse mode)
	regs    []uint8  // dense registers; nil in sparse mode
}

// NewHLL returns an empty counter.
func NewHLL() *HLL { return &HLL{sparse: make([]uint64, sparseSlots)} }

// Add records one hashed item.
func (h *HLL) Add(hash uint64) {
	if h.regs != nil {
		h.addDense(hash)
		return
	}
	if hash == 0 {
		h.hasZero = true
		return
	}
	mask := uint64(len(h.sparse) - 1)
	for i := hash & mask; ; i = (i + 1) & mask {
		switch h.sparse[i] {
		case hash:
			return
		case 0:
			h.sparse[i] = hash
			h.n++
			if h.n >= sparseMax {
				h.toDense()
			}
			return
		}
	}
}

func (h *HLL) addDense(hash uint64) {
	regs := (*[hllRegisters]uint8)(h.regs)
	idx := hash >> hllQ
	// the guard bit caps the rank at hllQ+1 when the remaining bits are zero
	rank := uint8(bits.LeadingZeros64(hash<<HLLPrecision|1<<(HLLPrecision-1))) + 1
	if rank > regs[idx] {
		regs[idx] = rank
	}
}

// AddHashes records every hash of hs; the same as Add in a loop, faster.
func (h *HLL) AddHashes(hs []uint64) {
	for i := 0; i < len(hs); {
		if h.regs != nil {
			regs := (*[hllRegisters]uint8)(h.regs)
			for _, hash := range hs[i:] {
				rank := uint8(bits.LeadingZeros64(hash<<HLLPrecision|1<<(HLLPrecision-1))) + 1
				if idx := hash >> hllQ; rank > regs[idx] {
					regs[idx] = rank
				}
			}
			return
		}
		// sparse: Add's probe inline until the set turns dense
		sp := h.sparse
		mask := uint64(len(sp) - 1)
		for ; i < len(hs) && h.regs == nil; i++ {
			hash := hs[i]
			if hash == 0 {
				h.hasZero = true
				continue
			}
			for j := hash & mask; ; j = (j + 1) & mask {
				if v := sp[j]; v == hash {
					break
				} else if v == 0 {
					sp[j] = hash
					h.n++
					if h.n >= sparseMax {
						h.toDense()
					}
					break
				}
			}
		}
	}
}

func (h *HLL) toDense() {
	h.regs = make([]uint8, hllRegisters)
	for _, v := range h.sparse {
		if v != 0 {
			h.addDense(v)
		}
	}
	if h.hasZero {
		h.addDense(0)
	}
	h.sparse, h.n, h.hasZero = nil, 0, false
}

// Merge adds every item counted by o to h.
func (h *HLL) Merge(o *HLL) {
	if o.regs == nil {
		for _, v := range o.sparse {
			if v != 0 {
				h.Add(v)
			}
		}
		if o.hasZero {
			h.Add(0)
		}
		return
	}
	if h.regs == nil {
		h.toDense()
	}
	for i, r := range o.regs {
		if r > h.regs[i] {
			h.regs[i] = r
		}
	}
}

// Estimate returns the number of distinct hashes added: exact in sparse mode,
// otherwise within about 0.81% (one standard error).
func (h *HLL) Estimate() uint64 {
	if h.regs == nil {
		n := uint64(h.n)
		if h.hasZero {
			n++
		}
		return n
	}
	var c [hllQ + 2]int
	for _, r := range h.regs {
		c[r]++
	}
	m := float64(hllRegisters)
	z := m * hllTau(1-float64(c[hllQ+1])/m)
	for k := hllQ; k >= 1; k-- {
		z = 0.5 * (z + float64(c[k]))
	}
	z += m * hllSigma(float64(c[0])/m)
	return uint64(math.Round(m * m / (2 * math.Ln2) / z))
}

// hllSigma and hllTau are the series of Ertl's improved raw estimator
// ("New cardinality estimation algorithms for HyperLogLog sketches", 2017).
func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		zPrev := z
		z += x * y
		y += y
		if z == zPrev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		zPrev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == zPrev {
			return z / 3
		}
	}
}

// Binary layout (little endian): byte 'H', byte version 1, byte precision,
// byte mode (0 sparse, 1 dense); sparse: uint32 count, byte hasZero, then
// count sorted uint64 hashes; dense: 16384 registers packed 6 bits each.
const hllVersion = 1

// MarshalBinary encodes h.
func (h *HLL) MarshalBinary() ([]byte, error) {
	out := []byte{'H', hllVersion, HLLPrecision, 0}
	if h.regs == nil {
		vals := make([]uint64, 0, h.n)
		for _, v := range h.sparse {
			if v != 0 {
				vals = append(vals, v)
			}
		}
		slices.Sort(vals)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(vals)))
		z := byte(0)
		if h.hasZero {
			z = 1
		}
		out = append(out, z)
		for _, v := range vals {
			out = binary.LittleEndian.AppendUint64(out, v)
		}
		return out, nil
	}
	out[3] = 1
	// 4 registers of 6 bits in 3 bytes
	for i := 0; i < hllRegisters; i += 4 {
		w := uint32(h.regs[i]) | uint32(h.regs[i+1])<<6 | uint32(h.regs[i+2])<<12 | uint32(h.regs[i+3])<<18
		out = append(out, byte(w), byte(w>>8), byte(w>>16))
	}
	return out, nil
}

var errHLLData = errors.New("sketch: invalid HyperLogLog data")

// UnmarshalBinary replaces h with the counter encoded in data.
func (h *HLL) UnmarshalBinary(data []byte) error {
	if len(data) < 4 || data[0] != 'H' {
		return errHLLData
	}
	if data[1] != hllVersion || data[2] != HLLPrecision {
		return fmt.Errorf("sketch: HyperLogLog version %d precision %d not supported", data[1], data[2])
	}
	body := data[4:]
	switch data[3] {
	case 0:
		if len(body) < 5 {
			return errHLLData
		}
		n := int(binary.LittleEndian.Uint32(body))
		if n >= sparseMax || len(body) != 5+8*n {
			return errHLLData
		}
		*h = *NewHLL()
		h.hasZero = body[4] == 1
		for i := range n {
			v := binary.LittleEndian.Uint64(body[5+8*i:])
			if v == 0 {
				return errHLLData
			}
			h.Add(v)
		}
		return nil
	case 1:
		if len(body) != hllRegisters/4*3 {
			return errHLLData
		}
		regs := make([]uint8, hllRegisters)
		for i := 0; i < hllRegisters; i += 4 {
			p := body[i/4*3:]
			w := uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
			for j := range 4 {
				r := uint8(w>>(6*j)) & 63
				if r > hllQ+1 {
					return errHLLData
				}
				regs[i+j] = r
			}
		}
		*h = HLL{regs: regs}
		return nil
	}
	return errHLLData
}
