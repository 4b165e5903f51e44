package profile

import "math"

// PSI is the population stability index of actual against expected, two
// distributions over the same bins (counts or proportions; each is
// normalised to sum 1): sum over bins of (a - e) * ln(a / e). Proportions
// below PSIEpsilon are raised to PSIEpsilon first, so an empty bin costs a
// large but finite amount. It returns 0 when the lengths differ or either
// side is empty.
func PSI(expected, actual []float64) float64 {
	if len(expected) != len(actual) || len(expected) == 0 {
		return 0
	}
	se, sa := sum(expected), sum(actual)
	if se <= 0 || sa <= 0 {
		return 0
	}
	var psi float64
	for i := range expected {
		e := max(expected[i]/se, PSIEpsilon)
		a := max(actual[i]/sa, PSIEpsilon)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// JensenShannon is the Jensen-Shannon distance between p and q (counts or
// proportions over the same categories; each is normalised to sum 1): the
// square root of the base-2 Jensen-Shannon divergence, in [0, 1] (as
// scipy.spatial.distance.jensenshannon(p, q, base=2)). Empty categories need
// no epsilon: 0·log 0 is taken as 0. It returns 0 when the lengths differ or
// either side is empty.
func JensenShannon(p, q []float64) float64 {
	if len(p) != len(q) || len(p) == 0 {
		return 0
	}
	sp, sq := sum(p), sum(q)
	if sp <= 0 || sq <= 0 {
		return 0
	}
	var d float64
	for i := range p {
		a, b := p[i]/sp, q[i]/sq
		m := (a + b) / 2
		if a > 0 {
			d += a * math.Log2(a/m) / 2
		}
		if b > 0 {
			d += b * math.Log2(b/m) / 2
		}
	}
	return math.Sqrt(min(max(d, 0), 1))
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		if x > 0 {
			s += x
		}
	}
	return s
}
