"""Size of the panel LM tests of OLS residuals with fixed effects: transformed within tests against slmtest's.

Under H0 (no spatial lag or error) y = X beta + effects + e is drawn again and again on one design (the package's
``simulate_panel`` for X, W and the sample); each replication computes the transformed within tests
(``within_transformed`` in fit.json, :func:`interdep.models.diagnostics.transformed_lm_tests`) and the
untransformed ones (``lm_*``, equal to R splm's ``slmtest``). Prints, per design, the mean of each chi2(1)
statistic (1 under H0) and its rejection rate at 5%, as a markdown table.

Run: ``nice .venv/bin/python benchmarks/panel_lm_size.py [--reps 1000]`` (about 1 minute on one core).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

from interdep.models.design import build_design
from interdep.models.diagnostics import OLSParts, lm_tests, transformed_lm_tests
from interdep.montecarlo import simulate_panel

TESTS = ("lm_error", "lm_lag", "robust_lm_error", "robust_lm_lag")
# (effects, N, T, share of state-years missing, W different every year)
DESIGNS = [("unit", 40, 3, 0.0, False), ("unit", 40, 3, 0.15, True), ("twoway", 40, 3, 0.15, True),
           ("time", 40, 3, 0.0, False), ("time", 40, 3, 0.15, True), ("time", 160, 3, 0.0, False)]


def run(effects: str, n: int, t: int, drop: float, varying: bool, reps: int, seed: int) -> list[str]:
    data, graphs = simulate_panel(n=n, t=t, rho=(0.0,), effects="twoway", drop=drop, varying=varying, seed=seed)
    spec = {"id": "size", "estimator": "ols", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"],
            "effects": effects}
    design = build_design(spec, data, graphs)
    Q, W, X = design.projector, design.stacked("c0"), design.X
    QX = Q(X)
    _, unit = np.unique(design.sample["ccode"], return_inverse=True)
    _, year = np.unique(design.sample["year"], return_inverse=True)
    rng = np.random.default_rng(seed)
    out = {"transformed": [], "slmtest": []}
    for _ in range(reps):
        y = (X @ np.ones(X.shape[1]) + (effects != "time") * rng.normal(size=unit.max() + 1)[unit]
             + (effects != "unit") * rng.normal(size=year.max() + 1)[year] + rng.normal(size=len(unit)))
        ols = OLSParts.fit(Q(y), QX)
        tr = transformed_lm_tests(ols, y, W, Q.D, Q.dtd_pinv)
        plain = lm_tests(ols, W)
        out["transformed"].append([tr[k]["statistic"] for k in TESTS])
        out["slmtest"].append([plain[k]["statistic"] for k in TESTS])
    crit = stats.chi2.ppf(0.95, 1)
    rows = []
    for name, values in out.items():
        v = np.asarray(values)
        cells = " | ".join(f"{m:.3f} / {r:.3f}" for m, r in zip(v.mean(0), (v > crit).mean(0), strict=True))
        rows.append(f"| {effects} | {n} x {t} | {'unbalanced' if drop else 'balanced'}, W "
                    f"{'yearly' if varying else 'fixed'} | {name} | {cells} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    print(f"{args.reps} replications per design; cells: mean of the statistic / rejection rate at 5%\n")
    print("| effects | N x T | panel | tests | " + " | ".join(TESTS) + " |")
    print("|---|---|---|---|" + "---|" * len(TESTS))
    for design in DESIGNS:
        for row in run(*design, reps=args.reps, seed=args.seed):
            print(row, flush=True)


if __name__ == "__main__":
    main()
