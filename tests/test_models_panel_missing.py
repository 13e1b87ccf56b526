"""Missing neighbours in unbalanced panels: the W-rows report in fit.json and ``w_missing: restandardise | keep``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_models_panel_helpers import simulate_panel

from interdep.errors import InputError
from interdep.models.design import build_design, restrict_weights, rows_losing_neighbours
from interdep.models.fit import fit_model


def test_rows_losing_neighbours_by_hand():
    # 0-1, 1-2, 2-3 path plus an island 4; drop state 2: rows 1 and 3 lose a neighbour, 0 and 4 do not
    a = np.zeros((5, 5))
    for i, j in ((0, 1), (1, 2), (2, 3)):
        a[i, j] = a[j, i] = 1
    w = sp.csr_array(a / np.maximum(a.sum(1), 1)[:, None])
    ids = [10, 20, 30, 40, 50]
    assert rows_losing_neighbours(w, ids, [10, 20, 40, 50]) == 2
    assert rows_losing_neighbours(w, ids, ids) == 0
    kept, removed = restrict_weights(w, ids, [10, 20, 40, 50], restandardise=False)
    assert removed
    # state 20's source row is (0.5 to 10, 0.5 to 30); kept: 0.5 to 10 only, so the row sums to 0.5
    np.testing.assert_allclose(kept.toarray()[1].sum(), 0.5)
    np.testing.assert_allclose(kept.toarray()[2], [0, 0, 0, 0])  # state 40 lost its only neighbour


def _spec(**kw) -> dict:
    return {"id": "m", "estimator": "sar_ml", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"],
            "effects": "unit", "impact_draws": 0, **kw}


def _brute_force_changed(panel, graphs) -> int:
    changed = 0
    for year, rows in panel.groupby("year"):
        g = graphs["c0"][year]
        present = set(rows["ccode"])
        adj = g.adjacency
        for focal in present:
            nbrs = set(adj.loc[focal].index[adj.loc[focal].to_numpy() != 0]) if focal in adj.index else set()
            nbrs.discard(focal)
            if nbrs - present:
                changed += 1
    return changed


@pytest.mark.parametrize("mode", ["restandardise", "keep"])
def test_fit_json_counts_changed_rows_and_warns(mode):
    panel, graphs = simulate_panel(n=40, t=4, rho=(0.4,), effects="unit", drop=0.1, seed=5)
    res = fit_model(_spec(w_missing=mode), panel, graphs)
    report = res.fit["w_missing"]
    assert report["mode"] == mode
    ch = report["channels"]["c0"]
    assert ch["rows"] == len(panel)
    assert ch["rows_changed"] == _brute_force_changed(panel, graphs) > 0
    assert ch["share"] > 0.05 and report["warnings"]
    assert any(n.startswith("WARNING: weights 'c0'") for n in res.fit["notes"])
    design = build_design(_spec(w_missing=mode), panel, graphs)
    sums = np.concatenate([np.asarray(w.sum(axis=1)).ravel() for w in design.weights["c0"]])
    if mode == "restandardise":
        np.testing.assert_allclose(sums[sums > 0], 1.0)
    else:  # the source weights: rows that lost a neighbour sum to less than one, and no row gains weight
        assert (sums <= 1 + 1e-12).all() and (sums < 1 - 1e-12).sum() == ch["rows_changed"]


def test_balanced_panel_changes_no_rows_and_does_not_warn():
    panel, graphs = simulate_panel(n=30, t=3, rho=(0.4,), effects="unit", seed=5)
    res = fit_model(_spec(), panel, graphs)
    assert res.fit["w_missing"]["channels"]["c0"]["rows_changed"] == 0
    assert "warnings" not in res.fit["w_missing"]


def test_keep_mode_is_the_model_with_lost_weights():
    """Data simulated with the source weights of the full graph over the states present (a missing neighbour
    contributes nothing): w_missing: keep fits that model; time effects then fall back to the direct approach
    (rows no longer sum to one) and say so."""
    panel, graphs = simulate_panel(n=40, t=4, rho=(0.4,), effects="time", drop=0.1, seed=9)
    res = fit_model(_spec(w_missing="keep", effects="time"), panel, graphs)
    assert res.fit["converged"]
    assert "direct approach" in res.fit["fixed_effects_correction"]


def test_unknown_w_missing_is_an_input_error():
    panel, graphs = simulate_panel(n=20, t=2, rho=(0.4,), seed=1)
    with pytest.raises(InputError, match="w_missing"):
        build_design(_spec(w_missing="drop"), panel, graphs)
