package profile

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mlcycle/mlcycle/internal/frame"
	"github.com/mlcycle/mlcycle/internal/sketch"
)

// The batched column loops (strings counted per distinct value, hashes and
// extremes gathered in the moment passes) give the same sketches as feeding
// every cell on its own: a string column that starts with few distinct
// values and then overflows the TopK capacity, a float column with nulls
// and -0, and an int column.
func TestComputeSameAsRowByRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	top := sketch.NewTopK(sketch.TopKCapacity)
	sHLL, fHLL, iHLL := sketch.NewHLL(), sketch.NewHLL(), sketch.NewHLL()
	fQ, iQ := sketch.NewQuantiles(), sketch.NewQuantiles()
	var b strings.Builder
	b.WriteString("s,f,i\n")
	const rows = 120_000
	for r := range rows {
		var s string
		switch {
		case r%97 == 0:
			// missing
		case r < 40_000:
			s = fmt.Sprintf("c%d", rng.IntN(20))
		case r < 60_000:
			s = fmt.Sprintf("m%d", rng.IntN(5000))
		default:
			s = fmt.Sprintf("h%d", rng.IntN(12_000))
		}
		if s != "" {
			top.Add(sketch.HashString(s), []byte(s))
			sHLL.Add(sketch.HashString(s))
		}
		f := ""
		switch {
		case r%89 == 0:
		case r%1000 == 1:
			f = "-0.0"
			fHLL.Add(sketch.HashFloat(0))
			fQ.Add(0)
		default:
			v := math.Round(rng.NormFloat64()*1e4) / 100
			f = strconv.FormatFloat(v, 'f', -1, 64)
			fHLL.Add(sketch.HashFloat(v))
			fQ.Add(v)
		}
		n := rng.IntN(3000) - 1000
		iHLL.Add(sketch.HashFloat(float64(n)))
		iQ.Add(float64(n))
		fmt.Fprintf(&b, "%s,%s,%d\n", s, f, n)
	}
	path := write(t, "t.csv", b.String())
	r, err := frame.Open(path, frame.Options{BatchRows: 3000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := ComputeWith(r, Options{TopK: sketch.TopKCapacity}) // every counted value
	if err != nil {
		t.Fatal(err)
	}
	enc := func(m interface{ MarshalBinary() ([]byte, error) }) string {
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(data)
	}

	sc := p.Column("s")
	if sc == nil || sc.Type != "string" {
		t.Fatalf("column s: %+v", sc)
	}
	var want []CategoryCount
	listed := int64(0)
	for _, it := range top.Top(sketch.TopKCapacity) {
		want = append(want, CategoryCount{it.Value, it.Count})
		listed += it.Count
	}
	if !reflect.DeepEqual(sc.TopCategories, want) {
		t.Errorf("top categories differ:\n got %v\nwant %v", sc.TopCategories, want)
	}
	if top.Exact() || sc.CategoriesExact || sc.OtherCount != top.Total()-listed {
		t.Errorf("exact %v/%v, other %d, want %d", sc.CategoriesExact, top.Exact(), sc.OtherCount, top.Total()-listed)
	}
	if sc.HLL != enc(sHLL) || sc.Distinct != sHLL.Estimate() {
		t.Errorf("string HLL differs: distinct %d, want %d", sc.Distinct, sHLL.Estimate())
	}

	for _, c := range []struct {
		name string
		hll  *sketch.HLL
		q    *sketch.Quantiles
	}{{"f", fHLL, fQ}, {"i", iHLL, iQ}} {
		cp := p.Column(c.name)
		if cp == nil || cp.Min == nil {
			t.Fatalf("column %s: %+v", c.name, cp)
		}
		if cp.HLL != enc(c.hll) || cp.QuantileSketch != enc(c.q) {
			t.Errorf("column %s: sketches differ from row-by-row", c.name)
		}
		if *cp.Min != c.q.Min() || *cp.Max != c.q.Max() {
			t.Errorf("column %s: min %v max %v, want %v %v", c.name, *cp.Min, *cp.Max, c.q.Min(), c.q.Max())
		}
	}
}
