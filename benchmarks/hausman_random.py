"""Size and power of the spatial Hausman test (random against fixed state effects, ``sar_ml``; issue 16).

Simulates panels with the package's simulator (``interdep.montecarlo.simulate_panel``): N states x T years, one
channel (kNN-4, W different every year), rho = 0.4, beta = (1, -0.5); ``random``: state effects independent of X
(the null: the test's size), ``unit``: X correlated with the state effects (x = z + 0.5 alpha; power). Each
replication fits the fixed-effects (``effects: unit``, ``lee_yu`` as given) and random-effects fits and computes
:func:`interdep.models.panel_random.hausman` as fit.json does. Prints the rejection rates at 5% and 1% and how often
V_fixed - V_random was not positive definite.

Run: ``nice .venv/bin/python benchmarks/hausman_random.py [--reps 300] [--n 100] [--t 10] [--drop 0.1]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from interdep.models.design import build_design
from interdep.models.panel_ml import fit_sar_ml
from interdep.models.panel_random import fit_sar_re, hausman
from interdep.montecarlo import simulate_panel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--t", type=int, default=10)
    ap.add_argument("--drop", type=float, default=0.1)
    ap.add_argument("--lee-yu", choices=["true", "false"], default="true")
    args = ap.parse_args()
    spec = {"id": "hausman", "estimator": "sar_ml", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"]}
    t0 = time.process_time()
    print(f"N = {args.n}, T = {args.t}, drop = {args.drop}, lee_yu: {args.lee_yu}, {args.reps} replications")
    print("| process | rejection at 5% | at 1% | V_fixed - V_random not p.d. | mean statistic (df 2) |")
    print("|---|---|---|---|---|")
    for process in ("random", "unit"):
        p, pd_fail, stat = [], 0, []
        for rep in range(args.reps):
            panel, graphs = simulate_panel(n=args.n, t=args.t, rho=(0.4,), beta=(1.0, -0.5), effects=process,
                                           drop=args.drop, seed=10_000 + rep)
            fixed = fit_sar_ml(build_design({**spec, "effects": "unit"}, panel, graphs), lee_yu=args.lee_yu == "true")
            test = hausman(fixed, fit_sar_re(build_design({**spec, "effects": "none"}, panel, graphs)))
            p.append(test["p_value"])
            stat.append(test["statistic"])
            pd_fail += not test["variance_difference_positive_definite"]
        p_arr = np.asarray(p)
        se5 = np.sqrt(0.05 * 0.95 / len(p_arr))
        print(f"| {process} | {np.mean(p_arr < 0.05):.3f} (MC s.e. {se5:.3f}) | {np.mean(p_arr < 0.01):.3f} | "
              f"{pd_fail} of {len(p_arr)} | {np.mean(stat):.2f} |", flush=True)
    print(f"{time.process_time() - t0:.0f} CPU s")


if __name__ == "__main__":
    main()
