// Package linear fits linear regression (squared loss), logistic regression
// (binary) and multinomial softmax regression (multiclass) with L2, L1 or
// elastic-net penalties, on the numeric matrix that prep's "linear" mode
// produces (imputed, one-hot encoded, standardised).
//
// The objective is documented on Params; it matches scikit-learn's
// ElasticNet and LogisticRegression conventions, so alpha and l1_ratio carry
// over (LogisticRegression's C is alpha = 1/(C·n)). Regression runs
// coordinate descent on the Gram matrix; classification (and very wide
// regression) runs FISTA with backtracking, which handles the L1 term
// exactly and leaves exact zeros. Train honours ctx, reports progress per
// iteration, and gives byte-identical models whatever the thread count.
package linear
