"""Bayesian spatial Tobit / probit (interdep.models.bayes): R reference values, speed against R spatialprobit,
the real-panel fit time, and a Monte Carlo of bias and coverage.

Run (one heavy process at a time):

* ``.venv/bin/python benchmarks/bench_bayes.py r-reference [--ndraw 10000]``: R spatialprobit (sar_probit_mcmc as
  shipped, sar_tobit_mcmc with the two fixes of tests/test_models_bayes.py) on the n = 400 cross-section of the
  tests; writes tests/data/bayes_r_reference.csv (posterior mean, batch-means MCSE, 2.5% / 97.5% quantiles) and
  prints ESS of rho per second, ours against R's, from the same run (CPU seconds on both sides; ``--speed-only``
  skips writing the reference).
* ``.venv/bin/python benchmarks/bench_bayes.py real --panel results/ipi/panel.csv --weights
  results/ipi/weights/contiguity.csv``: the four ipi models with 2 chains x 5,000 draws (1,000 burn-in); seconds.
* ``.venv/bin/python benchmarks/bench_bayes.py montecarlo --reps 200 --budget 1200``: N = 190, T = 10, a W per
  year (the Monte Carlo workflow's geography, interdep.montecarlo), two-way effects, rho = 0.3, outcome censored
  at its 40% quantile; sar_tobit and sar_probit (``--fits estimator:unit_effects ...``, unit effects fixed or
  correlated_random); stops when the CPU budget (seconds) is spent and says so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_models_bayes import cross_section, run_r_bayes  # noqa: E402

from interdep.models.bayes.core import Chains, diagnostics  # noqa: E402
from interdep.models.fit import fit_model  # noqa: E402

REFERENCE = ROOT / "tests" / "data" / "bayes_r_reference.csv"
ESTIMATORS = {"sar_tobit": "y", "sar_probit": "d"}


def _graphs(data: pd.DataFrame, W) -> dict:
    from libpysal.graph import Graph

    return {"knn": {2014: Graph.from_sparse(W, ids=data["ccode"].tolist())}}


def r_reference(ndraw: int, burn: int, write: bool = True) -> None:
    data, W = cross_section()
    with tempfile.TemporaryDirectory() as tmp:
        r = run_r_bayes(Path(tmp), data, W, ndraw=ndraw, burn=burn)
    rows = []
    for est in ESTIMATORS:
        d = r[est]
        diag = diagnostics(Chains(list(d.columns), d.to_numpy()[None], 0, 1, 0, 0.0))
        rows.append(diag.assign(estimator=est)[["estimator", "term", "mean", "mcse", "conf_low", "conf_high",
                                                 "ess_bulk"]])
        ess_r = float(diag.set_index("term").loc["rho_knn", "ess_bulk"])
        secs_r = float(r["seconds"][est].iloc[0])
        spec = {"id": est, "estimator": est, "weights": ["knn"], "outcome": ESTIMATORS[est],
                "regressors": ["x1", "x2"], "mcmc": {"draws": ndraw // 2, "burn_in": burn, "chains": 2}}
        t0 = time.process_time()
        res = fit_model(spec, data, _graphs(data, W))
        secs = time.process_time() - t0
        ess = res.fit["mcmc"]["diagnostics"]["rho_knn"]["ess_bulk"]
        print(f"{est}: R {ndraw} draws {secs_r:.1f} CPU s, ESS(rho) {ess_r:.0f} -> {ess_r / secs_r:.1f}/s; "
              f"ours 2 x {ndraw // 2} draws {secs:.1f} CPU s (whole fit incl. impacts), ESS(rho) {ess:.0f} -> "
              f"{ess / secs:.1f}/s; ratio {(ess / secs) / (ess_r / secs_r):.1f}x")
    out = pd.concat(rows, ignore_index=True)
    if not write:
        return
    REFERENCE.parent.mkdir(exist_ok=True)
    out.to_csv(REFERENCE, index=False, float_format="%.6g")
    print(f"wrote {REFERENCE} (R spatialprobit, ndraw {ndraw}, burn.in {burn}, set.seed(1))")


def real(panel_path: str, weights_path: str) -> None:
    from interdep.io import read_table
    from interdep.panel.build import states_by_year
    from interdep.weights.graphs import graphs_from_edge_list

    panel = read_table(panel_path)
    graphs = {"contiguity": graphs_from_edge_list(read_table(weights_path), states_by_year(panel))}
    regs = ["log_gdppc", "log_pop", "polyarchy", "conflict_neighbour"]
    for est, outcome in (("sar_tobit", "log_contrib"), ("sar_probit", "contributed")):
        for years, effects in (([1990, 2014], "twoway"), ([2014], "none")):
            spec = {"id": f"{est}_{effects}", "estimator": est, "weights": ["contiguity"], "outcome": outcome,
                    "regressors": regs, "years": years, "effects": effects,
                    "mcmc": {"draws": 5000, "burn_in": 1000, "chains": 2}}
            t0, c0 = time.perf_counter(), time.process_time()
            res = fit_model(spec, panel, graphs)
            m = res.fit["mcmc"]
            print(f"{est} {years} {effects}: n {res.fit['n_obs']}, {m['latent_rows']} latent rows in "
                  f"{m['latent_sets']} sets; {time.perf_counter() - t0:.1f} s elapsed, "
                  f"{time.process_time() - c0:.1f} s CPU (sampler {m['seconds']:.1f} s); rho "
                  f"{res.fit['rho']['contiguity']:.3f}; converged {res.fit['converged']} {res.fit['message']}")


def montecarlo(reps: int, budget: float, draws: int, burn: int, fits: list[str], out_name: str) -> None:
    from interdep.montecarlo import design_graphs, parse_study, simulate

    study = {"replications": reps, "chunk_size": 1, "seed": 20261202,
             "estimators": {"ml": {"estimator": "sar_ml", "effects": "twoway"}},
             "designs": [{"id": "tobit", "n": 190, "t": 10, "effects": "twoway",
                          "channels": {"geo": {"rho": 0.3, "varying": True}}}]}
    designs, _ = parse_study(study)
    design = designs[0]
    graphs = design_graphs(design, 20261202)
    rows = []
    start = time.process_time()
    for rep in range(reps):
        if time.process_time() - start > budget:
            print(f"CPU budget of {budget:.0f} s spent after {rep} replications")
            break
        panel = simulate(design, graphs, 20261202, rep)
        cut = np.quantile(panel["y"], 0.4)
        panel["y_tobit"] = np.maximum(panel["y"] - cut, 0.0)
        panel["y_probit"] = (panel["y"] > cut).astype(float)
        for fit in fits:
            est, unit_effects = fit.split(":")
            outcome = "y_tobit" if est == "sar_tobit" else "y_probit"
            spec = {"id": est, "estimator": est, "weights": ["geo"], "outcome": outcome, "unit_effects": unit_effects,
                    "regressors": design.regressors, "effects": "twoway", "impact_draws": 10,
                    "mcmc": {"draws": draws, "burn_in": burn, "chains": 2, "seed": 1000 + rep}}
            res = fit_model(spec, panel, graphs)
            c = res.estimate.coefficients().set_index("term").loc["rho_geo"]
            rows.append({"rep": rep, "estimator": fit, "estimate": c["estimate"], "conf_low": c["conf_low"],
                         "conf_high": c["conf_high"], "converged": res.fit["converged"],
                         "dropped_units": design.n - res.fit["n_units"]})
    out = pd.DataFrame(rows)
    (ROOT / "results").mkdir(exist_ok=True)
    out.to_csv(ROOT / "results" / out_name, index=False)  # per replication (gitignored)
    summ = out.groupby("estimator").apply(lambda g: pd.Series({
        "replications": len(g), "mean": g["estimate"].mean(), "bias": g["estimate"].mean() - 0.3,
        "mc_se_bias": g["estimate"].std(ddof=1) / np.sqrt(len(g)),
        "coverage_95": ((g["conf_low"] <= 0.3) & (g["conf_high"] >= 0.3)).mean(),
        "converged": g["converged"].mean(), "dropped_units_mean": g["dropped_units"].mean()}), include_groups=False)
    print(f"{len(out) // len(fits)} replications, {time.process_time() - start:.0f} CPU s")
    print(summ.to_markdown(floatfmt=".3f"))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("r-reference")
    a.add_argument("--ndraw", type=int, default=10000)
    a.add_argument("--burn", type=int, default=1000)
    a.add_argument("--speed-only", action="store_true", help="print the ESS/s ratios, do not write the reference")
    b = sub.add_parser("real")
    b.add_argument("--panel", default="results/ipi/panel.csv")
    b.add_argument("--weights", default="results/ipi/weights/contiguity.csv")
    c = sub.add_parser("montecarlo")
    c.add_argument("--reps", type=int, default=200)
    c.add_argument("--budget", type=float, default=1200.0)
    c.add_argument("--draws", type=int, default=1000)
    c.add_argument("--burn", type=int, default=300)
    c.add_argument("--fits", nargs="+", default=["sar_tobit:fixed", "sar_probit:fixed"],
                   help="estimator:unit_effects pairs (unit_effects fixed or correlated_random)")
    c.add_argument("--out", default="bench_bayes_montecarlo.csv", help="per-replication CSV under results/")
    args = p.parse_args()
    if args.cmd == "r-reference":
        r_reference(args.ndraw, args.burn, write=not args.speed_only)
    elif args.cmd == "real":
        real(args.panel, args.weights)
    else:
        montecarlo(args.reps, args.budget, args.draws, args.burn, args.fits, args.out)


if __name__ == "__main__":
    main()
