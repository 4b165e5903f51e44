package explain

import (
	"fmt"
	"math"
)

// Aggregate adds up the contributions of one output of one row — contrib
// has F feature values followed by the bias — into nInputs input columns
// plus the bias: column j is added to input source(j). This turns the
// contributions of one-hot columns into the contribution of the input they
// encode; the total is unchanged.
func Aggregate(contrib []float64, source func(j int) int, nInputs int) ([]float64, error) {
	if len(contrib) == 0 {
		return nil, fmt.Errorf("explain: no contributions to aggregate")
	}
	out := make([]float64, nInputs+1)
	if err := aggregateInto(out, contrib, source, nInputs); err != nil {
		return nil, err
	}
	return out, nil
}

// AggregateBlocks applies Aggregate to every block of nFeatures+1 values
// in contrib (rows × outputs, as TreeSHAPMatrix returns them) and returns
// the blocks of nInputs+1 values in the same order.
func AggregateBlocks(contrib []float64, nFeatures int, source func(j int) int, nInputs int) ([]float64, error) {
	in := nFeatures + 1
	if nFeatures < 0 || len(contrib)%in != 0 {
		return nil, fmt.Errorf("explain: %d contributions are not blocks of %d", len(contrib), in)
	}
	blocks := len(contrib) / in
	out := make([]float64, blocks*(nInputs+1))
	for b := range blocks {
		if err := aggregateInto(out[b*(nInputs+1):(b+1)*(nInputs+1)], contrib[b*in:(b+1)*in], source, nInputs); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func aggregateInto(out, contrib []float64, source func(j int) int, nInputs int) error {
	f := len(contrib) - 1
	for j := 0; j < f; j++ {
		s := source(j)
		if s < 0 || s >= nInputs {
			return fmt.Errorf("explain: column %d maps to input %d, want [0,%d)", j, s, nInputs)
		}
		out[s] += contrib[j]
	}
	out[nInputs] = contrib[f]
	return nil
}

// MeanAbs is the SHAP summary: the mean absolute contribution of each
// feature over rows, per output. contrib holds rows × outputs blocks of
// nFeatures+1 values (bias last, ignored); the result is
// out[k*nFeatures+j]. Sum over k for one number per feature.
func MeanAbs(contrib []float64, nFeatures, outputs int) ([]float64, error) {
	in := nFeatures + 1
	if nFeatures < 0 || outputs < 1 || len(contrib)%(in*outputs) != 0 {
		return nil, fmt.Errorf("explain: %d contributions are not rows of %d outputs × %d values", len(contrib), outputs, in)
	}
	rows := len(contrib) / (in * outputs)
	out := make([]float64, outputs*nFeatures)
	if rows == 0 {
		return out, nil
	}
	for r := range rows {
		for k := range outputs {
			b := contrib[(r*outputs+k)*in:]
			o := out[k*nFeatures : (k+1)*nFeatures]
			for j := range o {
				o[j] += math.Abs(b[j])
			}
		}
	}
	for i := range out {
		out[i] /= float64(rows)
	}
	return out, nil
}
