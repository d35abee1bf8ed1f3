"""Writes Tests/CortexExplainTests/Fixtures/fairlearn.json: Fairlearn's MetricFrame and
disparity metrics on fixed predictions, for Cortex's MetricFrame and Fairness to match to 1e-9.

Cases: Fairlearn's documented MetricFrame example (y_true [1,1,1,1,1,0,0,1,1,0],
y_pred [0,1,1,1,1,0,0,0,1,1], five Female then five Male); 200 random samples over three
groups; the same with sample weights; a case where one group has no positive labels and
another predicts no positives (rates with empty denominators); and two sensitive features
whose intersection is the group.

Run with the reference venv: $CORTEX_TORCH_PYTHON Tools/make_fairness_fixtures.py
"""
import functools
import json
import pathlib

import numpy as np
import fairlearn
from fairlearn.metrics import (MetricFrame, count, demographic_parity_difference, demographic_parity_ratio,
                               equalized_odds_difference, equalized_odds_ratio, false_negative_rate,
                               false_positive_rate, selection_rate, true_negative_rate, true_positive_rate)
from sklearn.metrics import accuracy_score, precision_score

METRICS = {
    "count": count,
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "true_negative_rate": true_negative_rate,
    "precision": functools.partial(precision_score, zero_division=0),
}


def number(value):
    value = float(value)
    return None if np.isnan(value) else value


def case(name, y_true, y_pred, sensitive, weights=None):
    params = {key: {"sample_weight": weights} for key in METRICS if key != "count"} if weights is not None else None
    frame = MetricFrame(metrics=METRICS, y_true=y_true, y_pred=y_pred, sensitive_features=sensitive, sample_params=params)
    by_group = {}
    for group, row in frame.by_group.iterrows():
        key = ", ".join(group) if isinstance(group, tuple) else str(group)
        by_group[key] = {metric: number(row[metric]) for metric in METRICS}
    kwargs = {"sample_weight": weights} if weights is not None else {}
    disparities = {}
    for method in ["between_groups", "to_overall"]:
        disparities[method] = {
            "difference": {m: number(v) for m, v in frame.difference(method=method).items()},
            "ratio": {m: number(v) for m, v in frame.ratio(method=method).items()},
            "demographic_parity_difference": number(demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive, method=method, **kwargs)),
            "demographic_parity_ratio": number(demographic_parity_ratio(y_true, y_pred, sensitive_features=sensitive, method=method, **kwargs)),
            "equalized_odds_difference": number(equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive, method=method, **kwargs)),
            "equalized_odds_ratio": number(equalized_odds_ratio(y_true, y_pred, sensitive_features=sensitive, method=method, **kwargs)),
            "equalized_odds_difference_mean": number(equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive, method=method, agg="mean", **kwargs)),
        }
    columns = sensitive if isinstance(sensitive, dict) else {"feature": sensitive}
    return {
        "name": name,
        "y_true": [int(v) for v in y_true],
        "y_pred": [int(v) for v in y_pred],
        "sensitive": {key: [str(v) for v in values] for key, values in columns.items()},
        "weights": None if weights is None else [float(w) for w in weights],
        "overall": {m: number(v) for m, v in frame.overall.items()},
        "by_group": by_group,
        "group_min": {m: number(v) for m, v in frame.group_min().items()},
        "group_max": {m: number(v) for m, v in frame.group_max().items()},
        **disparities,
    }


rng = np.random.default_rng(17)
cases = [case("fairlearn_documented_example", [1, 1, 1, 1, 1, 0, 0, 1, 1, 0], [0, 1, 1, 1, 1, 0, 0, 0, 1, 1],
              ["Female"] * 5 + ["Male"] * 5)]
groups = rng.choice(["a", "b", "c"], size=200, p=[0.5, 0.3, 0.2]).tolist()
y_true = rng.integers(0, 2, 200)
y_pred = np.where(rng.random(200) < 0.7, y_true, 1 - y_true)
cases.append(case("three_groups", y_true.tolist(), y_pred.tolist(), groups))
cases.append(case("three_groups_weighted", y_true.tolist(), y_pred.tolist(), groups, weights=rng.uniform(0.2, 3, 200).tolist()))
empty = ["x"] * 6 + ["y"] * 6 + ["z"] * 4
cases.append(case("empty_denominators", [0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0],
                  [1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0], empty))
colour = rng.choice(["Black", "White"], size=120).tolist()
sex = rng.choice(["Female", "Male"], size=120, p=[0.3, 0.7]).tolist()
y_true = rng.integers(0, 2, 120)
y_pred = np.where(rng.random(120) < 0.8, y_true, 1 - y_true)
cases.append(case("two_features", y_true.tolist(), y_pred.tolist(), {"colour": colour, "sex": sex}))

out = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexExplainTests/Fixtures/fairlearn.json"
out.write_text(json.dumps({"generator": "Tools/make_fairness_fixtures.py", "fairlearn": fairlearn.__version__, "cases": cases}, indent=1))
print(f"wrote {len(cases)} cases to {out}")
