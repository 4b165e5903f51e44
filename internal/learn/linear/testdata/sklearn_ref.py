# Produces the scikit-learn reference numbers in sklearn_test.go (skRef).
# Run once with the test venv: $HOME/.cache/mlcycle-test/venv/bin/python testdata/sklearn_ref.py
# (scikit-learn 1.9.1); the data formulas match skData in sklearn_test.go.
import math, warnings
import numpy as np
import sklearn
from sklearn.linear_model import Ridge, Lasso, ElasticNet, LinearRegression, LogisticRegression
warnings.simplefilter("ignore")
n, d = 40, 4
X = np.array([[math.sin(0.37*(i+1)*(j+1) + 0.5*j) + 0.3*math.cos(1.1*i + j) for j in range(d)] for i in range(n)])
yr = np.array([1.2*X[i,0] - 0.8*X[i,1] + 0.4*X[i,3] + 0.5 + 0.2*math.sin(2.3*i+0.1) for i in range(n)])
yb = np.array([1.0 if X[i,0] - 1.5*X[i,1] + 0.5*X[i,3] + 0.6*math.sin(1.9*i) > 0.1 else 0.0 for i in range(n)])
def cls(i):
    s = [X[i,0] + 0.3*math.sin(1.3*i), -X[i,0] + X[i,1], X[i,2] - 0.5*X[i,3] + 0.4*math.cos(0.9*i)]
    return int(np.argmax(s))
ym = np.array([cls(i) for i in range(n)])
print("// sklearn", sklearn.__version__, "classes", np.bincount(ym).tolist(), "pos", int(yb.sum()))
def out(name, b, w):
    b = np.atleast_1d(b); w = np.atleast_2d(w)
    print(f'{{"{name}", []float64{{{", ".join(repr(float(v)) for v in b)}}}, [][]float64{{' + ", ".join("{" + ", ".join(repr(float(v)) for v in row) + "}" for row in w) + "}},")
m = LinearRegression().fit(X, yr); out("ols", m.intercept_, m.coef_)
m = Ridge(alpha=2.0, tol=1e-12).fit(X, yr); out("ridge", m.intercept_, m.coef_)
m = Lasso(alpha=0.05, tol=1e-12, max_iter=100000).fit(X, yr); out("lasso", m.intercept_, m.coef_)
m = ElasticNet(alpha=0.05, l1_ratio=0.5, tol=1e-12, max_iter=100000).fit(X, yr); out("enet", m.intercept_, m.coef_)
m = LogisticRegression(C=0.5, tol=1e-12, max_iter=100000).fit(X, yb); out("logit_l2", m.intercept_, m.coef_)
m = LogisticRegression(C=0.5, l1_ratio=1.0, solver="saga", random_state=0, tol=1e-12, max_iter=1000000).fit(X, yb); out("logit_l1", m.intercept_, m.coef_)
m = LogisticRegression(C=0.5, l1_ratio=0.5, solver="saga", random_state=0, tol=1e-12, max_iter=1000000).fit(X, yb); out("logit_enet", m.intercept_, m.coef_)
m = LogisticRegression(C=1.0, tol=1e-12, max_iter=100000).fit(X, ym); out("softmax_l2", m.intercept_, m.coef_)
m = LogisticRegression(C=1.0, l1_ratio=1.0, solver="saga", random_state=0, tol=1e-12, max_iter=1000000).fit(X, ym); out("softmax_l1", m.intercept_, m.coef_)
