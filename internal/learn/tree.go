package learn

import "math"

// Node is one node of a regression tree. A leaf has Feature == -1 and its
// Value is the amount it adds to the raw score (learning rate applied).
//
// An inner node sends a row left when:
//   - the feature is missing (NaN): DefaultLeft;
//   - Cats != nil (categorical split): the category code c is in the set,
//     that is c < 64*len(Cats) and Cats[c/64]>>(c%64)&1 == 1; a code outside
//     the set, including one unseen in training, goes right;
//   - otherwise (numeric split): x <= Threshold.
//
// Cover is the sum of the training rows' hessians that reached the node (the
// row count for squared loss); TreeSHAP weighs the branches by it.
type Node struct {
	Feature     int      `json:"f"`
	Threshold   float64  `json:"t,omitempty"`
	Cats        []uint64 `json:"c,omitempty"`
	DefaultLeft bool     `json:"d,omitempty"`
	Left        int32    `json:"l,omitempty"`
	Right       int32    `json:"r,omitempty"`
	Value       float64  `json:"v,omitempty"`
	Cover       float64  `json:"h"`
}

// IsLeaf reports whether n is a leaf.
func (n *Node) IsLeaf() bool { return n.Feature < 0 }

// GoesLeft reports which way a row with feature value x takes at n.
func (n *Node) GoesLeft(x float64) bool {
	if math.IsNaN(x) {
		return n.DefaultLeft
	}
	if n.Cats != nil {
		if x < 0 {
			return false
		}
		c := uint64(x)
		w := c / 64
		return w < uint64(len(n.Cats)) && n.Cats[w]>>(c%64)&1 == 1
	}
	return x <= n.Threshold
}

// Tree is a binary tree stored as a node array; Nodes[0] is the root.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// Leaf returns the index of the leaf row x reaches.
func (t *Tree) Leaf(x []float64) int {
	i := 0
	for {
		n := &t.Nodes[i]
		if n.Feature < 0 {
			return i
		}
		if n.GoesLeft(x[n.Feature]) {
			i = int(n.Left)
		} else {
			i = int(n.Right)
		}
	}
}

// Predict returns the value of the leaf row x reaches.
func (t *Tree) Predict(x []float64) float64 { return t.Nodes[t.Leaf(x)].Value }

// Depth is the number of edges on the longest root-to-leaf path.
func (t *Tree) Depth() int {
	var walk func(i int) int
	walk = func(i int) int {
		n := &t.Nodes[i]
		if n.IsLeaf() {
			return 0
		}
		return 1 + max(walk(int(n.Left)), walk(int(n.Right)))
	}
	return walk(0)
}
