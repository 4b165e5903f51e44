// Package sketch provides mergeable summaries of streams: a HyperLogLog
// distinct counter, a KLL quantile sketch with an exact mode for small
// streams, and a space-saving heavy-hitters counter. All are deterministic
// (the same input in the same order gives the same bytes) and serialise to a
// stable binary form, so profiles computed in different processes can be
// stored, merged and compared.
package sketch

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The hash functions below are part of the serialised sketches' meaning
// (HyperLogLog registers and heavy-hitter keys are hashes): never change
// them. They follow the wyhash construction (multiply-fold mixing); the
// process-seeded hash/maphash cannot be used because sketches must merge
// across processes.
const (
	k0 = 0xa0761d6478bd642f
	k1 = 0xe7037ed1a0b428db
	k2 = 0x8ebc6af09c88c6e3
	k3 = 0x589965cc75374cc3
)

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// Hash returns a 64-bit hash of b.
func Hash(b []byte) uint64 {
	n := len(b)
	seed := mix(k0^uint64(n), k1)
	var a, c uint64
	switch {
	case n == 0:
	case n < 4:
		a = uint64(b[0])<<16 | uint64(b[n>>1])<<8 | uint64(b[n-1])
	case n <= 8:
		a = uint64(binary.LittleEndian.Uint32(b))
		c = uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n <= 16:
		a = binary.LittleEndian.Uint64(b)
		c = binary.LittleEndian.Uint64(b[n-8:])
	default:
		p := b
		for len(p) > 16 {
			seed = mix(binary.LittleEndian.Uint64(p)^k1, binary.LittleEndian.Uint64(p[8:])^seed)
			p = p[16:]
		}
		a = binary.LittleEndian.Uint64(b[n-16:])
		c = binary.LittleEndian.Uint64(b[n-8:])
	}
	hi, lo := bits.Mul64(a^k1, c^seed)
	return mix(hi^k2^uint64(n), lo^k3)
}

// HashString is Hash of the bytes of s.
func HashString(s string) uint64 { return Hash([]byte(s)) }

// HashUint64 returns a 64-bit hash of v (a bijection with full avalanche,
// MurmurHash3's finaliser).
func HashUint64(v uint64) uint64 {
	v ^= v >> 33
	v *= 0xff51afd7ed558ccd
	v ^= v >> 33
	v *= 0xc4ceb9fe1a85ec53
	v ^= v >> 33
	return v
}

// HashFloat hashes a number so that equal values hash equally: -0 as 0, and
// every NaN alike. Integers hash as their float64 value, so an int column
// widened to float keeps its hashes.
func HashFloat(f float64) uint64 {
	if f == 0 {
		f = 0
	} else if f != f {
		f = math.NaN()
	}
	return HashUint64(math.Float64bits(f) ^ k2)
}
