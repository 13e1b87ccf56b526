"""Impacts (interdep.models.impacts): published Columbus values, brute-force stacked inverses, simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from libpysal.graph import Graph
from test_models_panel_helpers import COLUMBUS_SPEC, simulate_panel
from test_models_panel_helpers import columbus as columbus_data

from interdep.models import impacts as imp
from interdep.models.design import build_design
from interdep.models.panel_ml import fit_sar_ml, single_thread_blas
from interdep.models.result import IMPACT_COLUMNS, Estimate

RTOL = 1e-5


@pytest.fixture(scope="module")
def columbus():
    data = columbus_data()
    if data is None:
        pytest.skip("validation data (../shared/reference/validation) not found")
    return data


def _value(frame: pd.DataFrame, term: str, effect: str, channel: str | None = None) -> float:
    rows = frame[(frame["term"] == term) & (frame["effect"] == effect)]
    if channel is not None:
        rows = rows[rows["channel"] == channel]
    assert len(rows) == 1
    return float(rows["estimate"].iloc[0])


def test_columbus_sar_impacts_match_published(columbus):
    design = build_design(COLUMBUS_SPEC, *columbus)
    frame = imp.spatial_impacts(fit_sar_ml(design), design, draws=0)
    assert list(frame.columns) == IMPACT_COLUMNS
    expected = {"INC": (-1.0860220, -0.7270848, -1.8131068), "HOVAL": (-0.2799509, -0.1874254, -0.4673763)}
    for term, values in expected.items():
        got = [_value(frame, term, e) for e in ("direct", "indirect", "total")]
        np.testing.assert_allclose(got, values, rtol=RTOL)


def test_columbus_sdm_impacts_exact_split(columbus):
    """spreg 1.9.0 puts all of theta into the indirect effect (direct INC -0.9612); the exact split is below."""
    design = build_design(COLUMBUS_SPEC, *columbus, spatial_x=True)
    frame = imp.spatial_impacts(fit_sar_ml(design, estimator="sdm_ml"), design, draws=0)
    expected = {"INC": (-1.0238910, -1.476711, -2.50060224), "HOVAL": (-0.2792275, 0.195385, -0.08384256)}
    for term, values in expected.items():
        got = [_value(frame, term, e) for e in ("direct", "indirect", "total")]
        np.testing.assert_allclose(got, values, rtol=RTOL)


def _brute_force(design, est: Estimate) -> dict[tuple[str, str, str], float]:
    """Impacts from dense stacked inverses (small panels only)."""
    n = design.n_obs
    W = {c: design.stacked(c).toarray() for c in design.channels}
    rho = est.spatial("rho")
    A = np.eye(n) - sum(rho[c] * W[c] for c in design.channels)
    Ainv = np.linalg.inv(A)
    out = {}
    multi = len(design.channels) > 1
    for x in design.regressors:
        b = est.params[est.terms.index(x)]
        th = {c: est.params[est.terms.index(f"W_{c}_{x}")] if f"W_{c}_{x}" in est.terms else 0.0
              for c in design.channels}
        B = b * np.eye(n) + sum(th[c] * W[c] for c in design.channels)
        S = Ainv @ B
        label = "all" if multi else design.channels[0]
        out[(x, label, "direct")] = np.trace(S) / n
        out[(x, label, "total")] = S.sum() / n
        out[(x, label, "indirect")] = (S.sum() - np.trace(S)) / n
        if multi:
            for c in design.channels:
                Cc = th[c] * W[c] + rho[c] * Ainv @ W[c] @ B
                out[(x, c, "indirect")] = (Cc.sum() - np.trace(Cc)) / n
    return out


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("durbin", [False, True])
def test_impacts_equal_brute_force_on_unbalanced_time_varying_panel(channels, durbin):
    rho = (0.35, 0.2)[:channels]
    theta = (0.5, -0.3, 0.2, 0.1)[: 2 * channels] if durbin else None
    panel, graphs = simulate_panel(n=25, t=4, rho=rho, theta=theta, effects="unit", drop=0.15, seed=7)
    spec = {"id": "m", "weights": list(graphs), "outcome": "y", "regressors": ["x1", "x2"], "effects": "unit"}
    design = build_design(spec, panel, graphs, spatial_x=durbin)
    est = fit_sar_ml(design)
    frame = imp.spatial_impacts(est, design, draws=0)
    expected = _brute_force(design, est)
    assert len(frame) == len(expected)
    for row in frame.itertuples():
        np.testing.assert_allclose(row.estimate, expected[(row.term, row.channel, row.effect)], rtol=1e-9,
                                   atol=1e-12)
    if channels > 1:  # the per-channel split adds up to the system's indirect effect
        for x in ("x1", "x2"):
            parts = frame[(frame.term == x) & (frame.channel != "all")]["estimate"].sum()
            np.testing.assert_allclose(parts, _value(frame, x, "indirect", "all"), rtol=1e-10)


def test_asymmetric_weights_and_islands_use_exact_formulas():
    rng = np.random.default_rng(3)
    n = 20
    a = (rng.uniform(size=(n, n)) < 0.2).astype(float) * rng.uniform(0.5, 2, size=(n, n))
    np.fill_diagonal(a, 0)
    a[0, :] = 0  # an island (zero row)
    a[:, 0] = 0
    ids = list(range(100, 100 + n))
    g = Graph.from_sparse(sp.csr_array(a), ids=ids).transform("r")
    graphs = {"w": {2000: g, 2001: g}}
    W = g.sparse.toarray()
    frames = []
    for year in (2000, 2001):
        x = rng.normal(size=(n, 2))
        y = np.linalg.solve(np.eye(n) - 0.4 * W, 1 + x @ [1.0, -1.0] + rng.normal(size=n))
        frames.append(pd.DataFrame({"ccode": ids, "year": year, "x1": x[:, 0], "x2": x[:, 1], "y": y}))
    panel = pd.concat(frames, ignore_index=True)
    spec = {"id": "asym", "weights": ["w"], "outcome": "y", "regressors": ["x1", "x2"], "effects": "none"}
    design = build_design(spec, panel, graphs, spatial_x=True)
    est = fit_sar_ml(design)
    frame = imp.spatial_impacts(est, design, draws=0)
    expected = _brute_force(design, est)
    for row in frame.itertuples():
        np.testing.assert_allclose(row.estimate, expected[(row.term, row.channel, row.effect)], rtol=1e-8)


def test_eigen_path_equals_dense_path():
    panel, graphs = simulate_panel(n=30, t=3, rho=(0.4,), theta=(0.3, 0.2), seed=9)
    spec = {"id": "m", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"]}
    design = build_design(spec, panel, graphs, spatial_x=True)
    est = fit_sar_ml(design)
    lay = imp._layout(est, design)
    draws = est.params + 0.01 * np.random.default_rng(0).standard_normal((5, len(est.params)))
    beta, theta, rho = imp._split(draws, lay)
    eig = imp._one_channel(imp._eig_terms(design), design.n_obs, beta, theta, rho)
    dense = imp._dense(design, beta, theta, rho)[:, :, :3]
    np.testing.assert_allclose(eig, dense, rtol=1e-10)


def test_simulated_inference_is_seeded_and_sane(columbus):
    design = build_design(COLUMBUS_SPEC, *columbus)
    est = fit_sar_ml(design)
    a = imp.spatial_impacts(est, design, draws=1000, seed=1)
    b = imp.spatial_impacts(est, design, draws=1000, seed=1)
    c = imp.spatial_impacts(est, design, draws=1000, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["std_error"].equals(c["std_error"])
    assert (a["std_error"] > 0).all()
    assert ((a["conf_low"] < a["estimate"]) & (a["estimate"] < a["conf_high"])).all()
    # the direct effect of INC is about beta: its simulated s.e. is close to se(beta) (0.305)
    se = a[(a.term == "INC") & (a.effect == "direct")]["std_error"].iloc[0]
    assert 0.25 < se < 0.40
    assert a.attrs["draws_used"] + a.attrs["draws_discarded"] == 1000


def test_linear_impacts_for_slx():
    terms = ["const", "x", "W_a_x", "W_b_x"]
    cov = np.diag([1.0, 0.04, 0.09, 0.16])
    cov[1, 2] = cov[2, 1] = 0.01
    est = Estimate("slx", terms, np.array([1.0, 2.0, 0.5, -0.25]), cov, 1.0, 100, df_resid=96)
    frame = imp.linear_impacts(est, ["x"], ["a", "b"])
    assert _value(frame, "x", "direct", "all") == 2.0
    assert _value(frame, "x", "indirect", "all") == 0.25
    assert _value(frame, "x", "total", "all") == 2.25
    assert _value(frame, "x", "indirect", "a") == 0.5
    total_se = frame[(frame.effect == "total")]["std_error"].iloc[0]
    np.testing.assert_allclose(total_se, np.sqrt(0.04 + 0.09 + 0.16 + 2 * 0.01))
    ols = imp.linear_impacts(est, ["x"], [])
    assert _value(ols, "x", "indirect") == 0.0


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The private helpers called below run single-threaded, as spatial_impacts runs them."""
    with single_thread_blas():
        yield


@pytest.mark.parametrize(("channels", "t", "varying", "basis"),
                         [(1, 3, True, "total"), (2, 3, True, "tensor"), (2, 30, False, "total")])
def test_chebyshev_interpolation_of_functionals_matches_exact(channels, t, varying, basis):
    """Against the exact dense functionals at every draw: one channel; two channels with a wide cloud of draws
    (coefficients falling with the larger degree: tensor basis) and a narrow one (falling with the total degree:
    Padua points, as on the real ipi panel)."""
    rho = (0.4, 0.2)[:channels]
    panel, graphs = simulate_panel(n=120 if t == 3 else 100, t=t, rho=rho,
                                   theta=(0.3, -0.2, 0.1, 0.1)[: 2 * channels], seed=4, varying=varying)
    spec = {"id": "m", "weights": list(graphs), "outcome": "y", "regressors": ["x1", "x2"]}
    design = build_design(spec, panel, graphs, spatial_x=True)
    est = fit_sar_ml(design)
    lay = imp._layout(est, design)
    draws, _ = imp._draws(est, lay, 500, 5, [(-0.99, 0.99)] * channels, design)
    centre = est.params[lay.rho]
    f, method = imp._interpolated_functionals(design, draws[:, lay.rho], centre)
    assert method.startswith(f"Chebyshev interpolation in rho ({basis} degree")
    exact = imp._exact_functionals(design, draws[:, lay.rho])
    np.testing.assert_allclose(f.pack(), exact.pack(), rtol=1e-9)
    beta, theta, rho_d = imp._split(draws, lay)
    np.testing.assert_allclose(imp._combine(f, beta, theta, rho_d, design.n_obs),
                               imp._dense(design, beta, theta, rho_d), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("C", [1, 2])
def test_augmented_nodes_keep_the_old_ones_and_interpolate_each_basis_exactly(C):
    """Every rung of the ladder reuses the nodes evaluated before and interpolates its basis exactly (a random
    polynomial in it is reproduced to rounding); the Padua points are (N + 1)(N + 2)/2 for total degree N."""
    rng = np.random.default_rng(1)
    nodes = np.zeros((0, C))
    for degree, tensor in (imp._DEGREES_1 if C == 1 else imp._DEGREES_2):
        new, exps = imp._augment(nodes, degree, C, tensor)
        nodes = np.vstack([nodes, new])
        assert len(nodes) == len(exps) == ((degree + 1) ** C if tensor or C == 1 else (degree + 1) * (degree + 2) // 2)
        V = imp._basis(nodes, exps)
        assert np.linalg.cond(V) < 100
        coef = rng.normal(size=len(exps))
        points = rng.uniform(-1, 1, size=(50, C))
        fitted = np.linalg.solve(V, V @ coef)
        np.testing.assert_allclose(imp._basis(points, exps) @ fitted, imp._basis(points, exps) @ coef, atol=1e-11)
