"""Random-effects fits on the real panel (config/ipi.yaml ``sar_contiguity_random``; issue 16).

Fits the model entry with ``effects: random``, ``random_time`` (the Lee-Yu time transformation, which applies with
the contiguity W's islands) and ``random_time`` with ``lee_yu: false`` (year dummies), each with 1,000 impact
draws, the Hausman test against the fixed-effects fit and the rho profile, as the workflow does; prints rho, phi,
the Hausman test and the CPU seconds per fit.

Run (after the workflow built the panel and the weights): ``nice .venv/bin/python
benchmarks/random_effects_real_panel.py [--results results/ipi]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from interdep.io import read_table
from interdep.models.design import build_design
from interdep.models.fit import fit_model
from interdep.models.panel_random import island_rows, transform_applies
from interdep.panel.build import states_by_year
from interdep.weights.graphs import graphs_from_edge_list

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default=str(ROOT / "results" / "ipi"))
    args = ap.parse_args()
    results = Path(args.results)
    cfg = yaml.safe_load((ROOT / "config" / "ipi.yaml").read_text())
    spec = next(m for m in cfg["models"] if m["id"] == "sar_contiguity_random")
    panel = read_table(results / "panel.csv")
    graphs = {c: graphs_from_edge_list(read_table(results / "weights" / f"{c}.csv"), states_by_year(panel))
              for c in spec["weights"]}
    design = build_design({**spec, "effects": "none"}, panel, graphs)
    islands = sum(int(i.sum()) for w in design.weights.values() for i in map(island_rows, w))
    print(f"{design.n_obs} state-years, {design.n_units} states, {design.n_periods} years; time transformation "
          f"applies: {transform_applies(design)} ({islands} island state-years)")
    print("| effects | rho (s.e.) | phi (s.e.) | Hausman (df), p | V_fixed - V_random p.d. | CPU s |")
    print("|---|---|---|---|---|---|")
    for effects, lee_yu in (("random", True), ("random_time", True), ("random_time", False)):
        t0 = time.process_time()
        res = fit_model({**spec, "effects": effects, "lee_yu": lee_yu, "impact_draws": 1000}, panel, graphs, seed=1)
        fit, coef = res.fit, res.estimate.coefficients().set_index("term")
        rho = coef.loc[f"rho_{spec['weights'][0]}"]
        re, h = fit["random_effects"], fit["hausman"]
        how = ("" if effects == "random" else
               ", time transformation" if re["time_transformation"] else ", year dummies")
        print(f"| {effects}{how} (lee_yu: {lee_yu}) | {rho['estimate']:.4f} ({rho['std_error']:.4f}) | "
              f"{re['phi']:.3f} ({re['phi_std_error']:.3f}) | {h['statistic']:.2f} (df {h['df']}), "
              f"{h['p_value']:.2g} against {h['against']} | {h['variance_difference_positive_definite']} | "
              f"{time.process_time() - t0:.1f} |")


if __name__ == "__main__":
    main()
