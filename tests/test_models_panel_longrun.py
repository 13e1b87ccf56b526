"""Long-run (steady-state) impacts of dynamic SAR / SDM panels (Elhorst 2014), against dense matrices."""

from __future__ import annotations

import numpy as np
import pytest
from test_models_panel_helpers import simulate_panel

from interdep.models.design import build_design
from interdep.models.fit import fit_model


def _dynamic_panel(channels: int, seed: int):
    """A space-time panel y_t = sum rho_c W_c y_t + tau y_{t-1} + sum eta_c W_c y_{t-1} + X beta + e."""
    rho, eta = (0.25, 0.1)[:channels], (0.1, 0.05)[:channels]  # tau + sum(rho + eta) < 1: a steady state
    panel, graphs = simulate_panel(n=30, t=7, rho=rho, varying=True, seed=seed)
    rng = np.random.default_rng(seed)
    prev = np.zeros(30)
    ys = []
    for year in sorted(panel["year"].unique()):
        rows = panel["year"] == year
        Ws = [graphs[f"c{c}"][year].sparse.toarray() for c in range(channels)]
        A = np.eye(30) - sum(r * W for r, W in zip(rho, Ws, strict=True))
        mu = 1 + panel.loc[rows, ["x1", "x2"]].to_numpy() @ [1.0, -1.0] + 0.4 * prev
        mu += sum(e * W @ prev for e, W in zip(eta, Ws, strict=True))
        prev = np.linalg.solve(A, mu + rng.normal(size=30))
        ys.append(prev)
    panel["y"] = np.concatenate(ys)
    return panel, graphs


def _brute_force_long_run(design, est) -> dict:
    """Pooled long-run direct / total per regressor from [(1-tau)I - sum (rho_c+eta_c) W_ct]^-1 (beta I + ...)."""
    p = dict(zip(est.terms, est.params, strict=True))
    tau = p["y_lag1"]
    out = {}
    for x in design.regressors:
        diag, rows = [], []
        for t, blk in enumerate(design.blocks):
            n = blk.stop - blk.start
            Ws = {c: design.weights[c][t].toarray() for c in design.channels}
            A = (1 - tau) * np.eye(n) - sum((p[f"rho_{c}"] + p[f"W_{c}_y_lag1"]) * Ws[c] for c in design.channels)
            B = p[x] * np.eye(n) + sum(p.get(f"W_{c}_{x}", 0.0) * Ws[c] for c in design.channels)
            S = np.linalg.solve(A, B)
            diag.append(np.diag(S))
            rows.append(S.sum(axis=1))
        d, tot = np.concatenate(diag).mean(), np.concatenate(rows).mean()
        out[x] = {"long_run_direct": d, "long_run_total": tot, "long_run_indirect": tot - d}
    return out


@pytest.mark.parametrize(("estimator", "channels"), [("sar_ml", 1), ("sdm_ml", 1), ("sar_ml", 2)])
def test_long_run_impacts_equal_dense_steady_state(estimator, channels):
    panel, graphs = _dynamic_panel(channels, seed=3)
    spec = {"id": "dyn", "estimator": estimator, "weights": [f"c{c}" for c in range(channels)], "outcome": "y",
            "regressors": ["x1", "x2"], "effects": "unit", "dynamic": True, "impact_draws": 100}
    res = fit_model(spec, panel, graphs)
    design = build_design(spec, panel, graphs, spatial_x=estimator == "sdm_ml", dynamic=True)
    expected = _brute_force_long_run(design, res.estimate)
    imp = res.impacts
    label = "all" if channels > 1 else "c0"
    for x, effects in expected.items():
        for eff, value in effects.items():
            row = imp[(imp["term"] == x) & (imp["effect"] == eff) & (imp["channel"] == label)].iloc[0]
            np.testing.assert_allclose(row["estimate"], value, rtol=1e-9)
            assert row["conf_low"] < row["estimate"] < row["conf_high"] and row["std_error"] > 0
        short = imp[(imp["term"] == x) & (imp["effect"] == "total") & (imp["channel"] == label)].iloc[0]
        assert abs(effects["long_run_total"]) > abs(short["estimate"])  # tau, eta > 0: the long run is larger
    assert any("long_run_*" in n for n in res.fit["notes"])


def test_no_steady_state_gives_no_long_run_rows_and_says_why():
    from interdep.models.impacts import spatial_impacts

    panel, graphs = _dynamic_panel(1, seed=3)
    spec = {"id": "dyn", "estimator": "sar_ml", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"],
            "effects": "unit", "dynamic": True}
    res = fit_model({**spec, "impact_draws": 0}, panel, graphs)
    est = res.estimate
    est.params = est.params.copy()
    est.params[est.terms.index("y_lag1")] = 0.95  # tau + rho + eta > 1: explosive
    design = build_design(spec, panel, graphs, dynamic=True)
    frame = spatial_impacts(est, design, draws=0, long_run=True)
    assert not frame["effect"].str.startswith("long_run").any()
    assert "no steady state" in frame.attrs["long_run"]


def test_static_models_have_no_long_run_rows():
    panel, graphs = simulate_panel(n=20, t=3, rho=(0.3,), seed=1)
    res = fit_model({"id": "s", "estimator": "sar_ml", "weights": ["c0"], "outcome": "y",
                     "regressors": ["x1", "x2"], "impact_draws": 0}, panel, graphs)
    assert not res.impacts["effect"].str.startswith("long_run").any()
