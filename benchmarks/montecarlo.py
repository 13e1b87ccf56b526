"""Monte Carlo study of the estimators in one process: a study config (``montecarlo:`` section) run design by design.

It uses the package's simulator and fits (:func:`interdep.montecarlo.run_chunk`, the code the Monte Carlo workflow
runs), with fewer replications than the config if asked, and prints the summary (bias, RMSE, mean s.e., sd of
the estimates, coverage with its Monte Carlo s.e.) as a Markdown table, plus the CPU seconds used. The full study
is the workflow: ``snakemake --configfile <config> --cores 2`` (or ``--workflow-profile profiles/slurm``).

Run: ``nice .venv/bin/python benchmarks/montecarlo.py [--config config/montecarlo_panel_se.yaml] [--reps 400]
[--designs ID ...] [--first 0] [--out results/bench_mc.csv] [--add earlier.csv ...]``.
Replication r of design d is seeded by (seed, d, r), so the first 400 replications here are the first 400 of the
workflow's 1,000, and a run with ``--first 400 --add first_run.csv`` extends an earlier one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from interdep.montecarlo import parse_study, run_chunk, summarise

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=str(ROOT / "config" / "montecarlo_panel_se.yaml"))
    ap.add_argument("--reps", type=int, default=None, help="replications per design (default: the config's)")
    ap.add_argument("--first", type=int, default=0, help="first replication number (to extend an earlier run)")
    ap.add_argument("--designs", nargs="*", default=None, help="design ids (default: all)")
    ap.add_argument("--add", nargs="*", default=[], help="replication CSVs of earlier runs to summarise with")
    ap.add_argument("--lee-yu", choices=["true", "false"], default=None, help="set lee_yu in every estimator")
    ap.add_argument("--out", default=None, help="write every replication to this CSV")
    args = ap.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    study = cfg["montecarlo"]
    if args.lee_yu is not None:
        for spec in study["estimators"].values():
            spec["lee_yu"] = args.lee_yu == "true"
    designs, estimators = parse_study(study, source=args.config)
    reps = args.reps or int(study["replications"])
    seed = int(cfg.get("seed", 20260101))
    frames = []
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    for design in designs:
        if args.designs and design.id not in args.designs:
            continue
        t0 = time.process_time()
        frames.append(run_chunk(design, estimators, range(args.first, args.first + reps), seed,
                                float(study.get("level", 0.95))))
        print(f"  {design.id}: {reps} replications, {time.process_time() - t0:.0f} CPU s", flush=True)
    reps_frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if args.out:
        reps_frame.to_csv(args.out, index=False)
    reps_frame = pd.concat([*(pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in args.add), reps_frame],
                           ignore_index=True)
    reps = int(reps_frame.groupby(["design", "estimator"])["replication"].nunique().min())
    summary = summarise(reps_frame)
    print(f"\n{args.config}: {reps} replications per design, seed {seed}; "
          f"{time.process_time() - t_cpu:.0f} CPU s, {time.perf_counter() - t_wall:.0f} s wall\n")
    several = summary["estimator"].nunique() > 1  # name the estimator when a design has more than one
    est_head, est_rule = ("estimator | ", "---|") if several else ("", "")
    print(f"| design | {est_head}term | truth | failed | bias | RMSE | mean s.e. | sd | mean s.e./sd | "
          "coverage (MC s.e.) |")
    print(f"|---|{est_rule}---|---|---|---|---|---|---|---|---|")
    for r in summary.itertuples(index=False):
        est = f"{r.estimator} | " if several else ""
        print(f"| {r.design} | {est}{r.term} | {r.truth:g} | {r.failed} | {r.bias:+.4f} | {r.rmse:.4f} | "
              f"{r.mean_se:.4f} | {r.sd:.4f} | {r.mean_se / r.sd:.3f} | {r.coverage:.3f} ({r.coverage_mcse:.3f}) |")
    hausman = reps_frame.loc[(reps_frame["term"] == "hausman_p_value")
                             & reps_frame["converged"].astype(str).str.lower().isin(["true", "1"])]
    for (design, est), p in hausman.groupby(["design", "estimator"])["estimate"]:
        print(f"Hausman test, {design} / {est}: rejection at 5% {np.mean(p < 0.05):.3f} "
              f"(MC s.e. {np.sqrt(0.05 * 0.95 / len(p)):.3f}), at 1% {np.mean(p < 0.01):.3f}, {len(p)} fits")


if __name__ == "__main__":
    main()
