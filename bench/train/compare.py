"""Train LightGBM or scikit-learn's HistGradientBoostingClassifier on the
benchmark CSVs with parameters comparable to mlcycle's defaults, timing only
the fit, and print one JSON line like bench/train's `fit`.

Usage: compare.py lightgbm|hgb TRAIN.csv TEST.csv THREADS
"""

import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def load(train_path, test_path):
    train = pd.read_csv(train_path, engine="pyarrow")
    test = pd.read_csv(test_path, engine="pyarrow")
    y, yt = train.pop("y").to_numpy(), test.pop("y").to_numpy()
    cats = [c for c in train.columns if train[c].dtype == object or str(train[c].dtype).startswith("str")]
    for c in cats:
        # codes in sorted order of the training values, as bench/train does;
        # unseen test values become missing
        levels = sorted(train[c].dropna().unique())
        train[c] = pd.Categorical(train[c], categories=levels)
        test[c] = pd.Categorical(test[c], categories=levels)
    return train, y, test, yt, cats


def main():
    tool, train_path, test_path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    x, y, xt, yt, cats = load(train_path, test_path)
    if tool == "lightgbm":
        import lightgbm as lgb

        params = dict(
            objective="binary", learning_rate=0.1, num_leaves=31, max_bin=255,
            min_data_in_leaf=20, min_sum_hessian_in_leaf=1e-3, lambda_l2=0.0,
            num_threads=threads, verbose=-1, seed=0, deterministic=True,
        )
        cpu0, start = time.process_time(), time.perf_counter()
        ds = lgb.Dataset(x, y, categorical_feature=cats or "auto", free_raw_data=False)
        model = lgb.train(params, ds, num_boost_round=100)
        secs, cpu = time.perf_counter() - start, time.process_time() - cpu0
        pred = model.predict(xt, num_threads=threads)
    elif tool == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        model = HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=31, max_bins=255,
            min_samples_leaf=20, l2_regularization=0.0, early_stopping=False,
            categorical_features="from_dtype", random_state=0,
        )
        with threadpool_limits(limits=threads):
            cpu0, start = time.process_time(), time.perf_counter()
            model.fit(x, y)
            secs, cpu = time.perf_counter() - start, time.process_time() - cpu0
            pred = model.predict_proba(xt)[:, 1]
    else:
        sys.exit(f"unknown tool {tool!r}")
    print(json.dumps({"tool": tool, "auc": float(roc_auc_score(yt, pred)), "train_seconds": secs, "cpu_seconds": cpu, "threads": threads}))


if __name__ == "__main__":
    main()
