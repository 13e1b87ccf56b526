"""Log-marginal likelihoods and posterior model probabilities (interdep.models.bayes.marginal).

Reference (``convention="lesage"``): spmixw 0.2.3 ``lmarginal_panel`` (Python port of R spmixW / LeSage's
MATLAB ``lmarginal_static_panel``), which computes the SDM and SDEM marginals for a balanced panel with one
fixed W. Under its exponent convention (``SSR^-(n-1)/2``; the package's default is the exact flat-prior
``SSR^-(n-p)/2``), two further conventions differ, each checked here as an exact offset:

* the prior density of rho: spmixw divides by ``D = 1 - 1/rmin`` (the width of the interval only when
  ``rmin = -1``); the uniform prior on ``(lo, hi)`` has density ``1 / (hi - lo)``, which we use;
* spmixw always adds a constant column, also to demeaned data, which adds ``-log(n)/2`` under fixed effects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from interdep.models.bayes.conv import ConvexLogJacobian
from interdep.models.bayes.marginal import (
    _lag_marginal,
    _mixture_design,
    channel_choice,
    log_marginal,
    model_probabilities,
    subset_marginal,
)
from interdep.models.design import Design
from interdep.montecarlo import Channel, design_graphs, simulate
from interdep.montecarlo import Design as MCDesign

spmixw = pytest.importorskip("spmixw", reason="spmixw is a test-only reference (requirements.lock)")


def _balanced(N=40, T=4, seed=1):
    rng = np.random.default_rng(seed)
    coords = rng.random((N, 2))
    d = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(d, np.inf)
    a = np.zeros((N, N))
    a[np.repeat(np.arange(N), 5), np.argsort(d, axis=1)[:, :5].ravel()] = 1
    a = np.maximum(a, a.T)
    W = sp.csr_array(a / a.sum(axis=1, keepdims=True))
    x = rng.standard_normal((N * T, 2))
    alpha = rng.standard_normal(N)
    y = np.concatenate([
        np.linalg.solve(np.eye(N) - 0.4 * W.toarray(), x[t * N:(t + 1) * N] @ [1, -0.5] + alpha
                        + rng.standard_normal(N)) for t in range(T)])
    return W, x, y, N, T


def _design(W, x, y, N, T, effects):
    names = (["const"] if effects == "none" else []) + ["x1", "x2"]
    cols = ([np.ones(N * T)] if effects == "none" else []) + [x[:, 0], x[:, 1]]
    sample = pd.DataFrame({"ccode": np.tile(np.arange(N), T), "year": np.repeat(np.arange(T), N)})
    design = Design("t", y, np.column_stack(cols), names, ["x1", "x2"], ["c"], np.arange(T),
                    [slice(t * N, (t + 1) * N) for t in range(T)], {"c": [W] * T}, sample, effects)
    design.X = np.column_stack([design.X, design.lag("c", x)])
    design.names = names + ["W_c_x1", "W_c_x2"]
    return design


@pytest.mark.parametrize("effects", ["none", "unit"])
def test_sdm_and_sdem_equal_spmixw_up_to_stated_conventions(effects):
    W, x, y, N, T = _balanced()
    design = _design(W, x, y, N, T, effects)
    sdm = log_marginal(design, "sdm", convention="lesage")
    sem = log_marginal(design, "sem", convention="lesage")  # with W x columns: the SDEM
    lo, hi = sdm.interval
    dm = spmixw.demean_panel(y, x, N, T, 0 if effects == "none" else 1)
    ref = spmixw.lmarginal_panel(dm.ywith, dm.xwith, W.toarray(), N, T, lflag=0, rmin=lo, rmax=hi)
    offset = np.log((1 - 1 / lo) / (hi - lo))  # prior density of rho: 1/(hi - lo), not 1/(1 - 1/rmin)
    if effects == "unit":
        offset += 0.5 * np.log(N * T)  # spmixw's constant column on demeaned data
    assert sdm.log_marginal == pytest.approx(ref.logm_sdm + offset, rel=1e-6)
    assert sdm.error < 1e-8
    if effects == "none":
        assert sem.log_marginal == pytest.approx(ref.logm_sdem + offset, rel=1e-6)
    else:  # unit dummies integrated out exactly; spmixw demeans, which does not commute with (I - lambda W)
        assert abs(sem.log_marginal - (ref.logm_sdem + offset)) > 1e-3


def _unbalanced_panel(seed=3):
    mc = MCDesign(id="m", n=30, t=4, effects="twoway",
                  channels=(Channel("a", 0.4, varying=True), Channel("b", 0.0, varying=True),
                            Channel("complete", 0.0, k=29)))
    graphs = design_graphs(mc, seed)
    panel = simulate(mc, graphs, seed, 0)
    panel = panel.drop(index=[3, 40, 41, 77, 100]).reset_index(drop=True)  # unbalanced
    return mc, graphs, panel


@pytest.mark.parametrize("model_type", ["sar", "sem"])
def test_effects_integrated_out_equal_dummies_as_regressors(model_type):
    """Unbalanced, W varying by year: two-way effects projected (SAR) or carried in Z (SEM) give the marginal of
    the model with the dummies as flat-prior regressors, up to the constant log|D'D|/2 left out by definition."""
    from interdep.models.design import build_design

    mc, graphs, panel = _unbalanced_panel()
    spec = {"id": "x", "weights": ["a"], "outcome": "y", "regressors": ["x1", "x2"], "effects": "twoway"}
    twoway = build_design(spec, panel, graphs)
    d = twoway.projector.D.toarray()[:, :-1]
    dummies = build_design({**spec, "effects": "none"}, panel, graphs)
    dummies.X = np.column_stack([twoway.X, d])
    dummies.names = twoway.names + [f"d{j}" for j in range(d.shape[1])]
    lm_twoway = log_marginal(twoway, model_type, adjust=False).log_marginal  # the dummy-variable model's
    lm_dummies = log_marginal(dummies, model_type).log_marginal
    assert lm_twoway == pytest.approx(lm_dummies + 0.5 * np.linalg.slogdet(d.T @ d)[1], rel=1e-9)


@pytest.mark.parametrize("effects", ["unit", "twoway"])
def test_adjusted_marginal_uses_lee_yus_jacobian(effects):
    """Balanced, one fixed W: the default (adjusted) SAR marginal is the unadjusted one with the integrand's
    log|A| replaced by Lee & Yu's transformed Jacobian, computed here by dense log-determinants and an
    independent quadrature."""
    from scipy.integrate import quad

    W, x, y, N, T = _balanced()
    design = _design(W, x, y, N, T, effects)
    design.X, design.names = design.X[:, :2], design.names[:2]  # SAR: x1, x2
    adjusted, plain = log_marginal(design, "sar"), log_marginal(design, "sar", adjust=False)
    assert adjusted.interval == plain.interval and adjusted.rho_mean > plain.rho_mean
    w = W.toarray()

    def integrand(rho, lee_yu, top):
        ld = np.linalg.slogdet(np.eye(N) - rho * w)[1]
        lj = (T - 1) * ld - (T - 1) * np.log(1 - rho) * (effects == "twoway") if lee_yu else T * ld
        q = design.projector(y - rho * design.lag("c", y))
        xq = design.projector(design.X)
        e = q - xq @ np.linalg.lstsq(xq, q, rcond=None)[0]
        return np.exp(lj - 0.5 * (N * T - 2 - design.projector.n_effects) * np.log(e @ e) - top)

    lo, hi = adjusted.interval
    logs = []
    for lee_yu, m in ((True, adjusted), (False, plain)):
        top = np.log(integrand(m.rho_mean, lee_yu, 0.0))
        val, _ = quad(integrand, lo, hi, args=(lee_yu, top), points=[m.rho_mean], epsabs=0, epsrel=1e-10, limit=200)
        logs.append(np.log(val) + top)
    assert adjusted.log_marginal - plain.log_marginal == pytest.approx(logs[0] - logs[1], rel=1e-6)


def test_probabilities_match_spmixw_and_prior():
    lm = [-100.0, -98.0, -105.0]
    assert np.allclose(model_probabilities(lm), spmixw.model_probs(np.array(lm)), rtol=1e-12)
    p = model_probabilities(lm, prior=[1, 1, np.exp(7)])
    assert p[2] == pytest.approx(p[1]) and p.sum() == pytest.approx(1)


def test_channel_choice_picks_the_true_channel_and_flags_a_complete_graph():
    from interdep.outputs.tables import channel_choice_note

    mc, graphs, panel = _unbalanced_panel()
    spec = {"channels": ["a", "b", "complete"], "model_types": ["sar", "sdm", "sem"], "outcome": "y",
            "regressors": ["x1", "x2"], "effects": "twoway"}
    table = channel_choice(spec, panel, graphs)
    assert list(table.columns[:4]) == ["model_type", "channels", "log_marginal", "probability"]
    assert len(table) == 9 and table["probability"].sum() == pytest.approx(1, abs=1e-12)
    sar = table[table["model_type"] == "sar"].set_index("channels")
    assert sar.loc["a", "log_marginal"] > sar.loc["b", "log_marginal"] + 5
    assert abs(sar.loc["a", "rho_mean"] - 0.4) < 3 * sar.loc["a", "rho_sd"] + 0.05
    ratio = table.drop_duplicates("channels").set_index("channels")["wy_sd_ratio"]
    assert ratio["complete"] < 0.05 and ratio["a"] > 0.3
    assert "complete 0.0" in channel_choice_note(table) and " a 0." not in channel_choice_note(table)


def _two_channel_design(model_type, duplicate=False):
    from interdep.models.design import build_design

    mc, graphs, panel = _unbalanced_panel()
    if duplicate:
        graphs = {**graphs, "b": graphs["a"]}
    spec = {"id": "s", "weights": ["a", "b"], "outcome": "y", "regressors": ["x1", "x2"], "effects": "twoway"}
    return build_design(spec, panel, graphs, spatial_x=model_type == "sdm")


@pytest.mark.parametrize("model_type", ["sar", "sdm"])
def test_subset_of_a_channel_with_itself_is_the_channel(model_type):
    """W(gamma) = W_a for every gamma: the subset's marginal is the single channel's (up to the importance
    sampler's error, which is then that of estimating the prior's total mass 1)."""
    from interdep.models.design import build_design

    design = _two_channel_design(model_type, duplicate=True)
    single = build_design({"id": "s", "weights": ["a"], "outcome": "y", "regressors": ["x1", "x2"],
                           "effects": "twoway"}, _unbalanced_panel()[2], _unbalanced_panel()[1],
                          spatial_x=model_type == "sdm")
    m, _ = subset_marginal(design, model_type, seed=1, rounds=(8, 8))
    exact = log_marginal(single, model_type).log_marginal
    assert abs(m.log_marginal - exact) < 4 * m.error + 1e-9 and m.error < 0.1


def test_subset_marginal_matches_quadrature_over_gamma():
    """Two channels: the importance-sampling estimate against a dense trapezoid rule over gamma in [0, 1]."""
    design = _two_channel_design("sar")
    m, gamma = subset_marginal(design, "sar", seed=2)
    grid = np.linspace(0, 1, 401)
    jac = ConvexLogJacobian(design, ["a", "b"])
    vals = np.array([_lag_marginal(_mixture_design(design, ["a", "b"], np.array([g, 1 - g]), "sar"), "conv",
                                   "sar", convex=(jac, np.array([g, 1 - g]))).log_marginal for g in grid])
    peak = vals.max()
    exact = np.log(np.trapezoid(np.exp(vals - peak), grid)) + peak  # Dirichlet(1, 1) density is 1
    assert abs(m.log_marginal - exact) < 4 * m.error + 1e-3
    post = np.exp(vals - peak)
    assert gamma[0] == pytest.approx(np.trapezoid(post * grid, grid) / np.trapezoid(post, grid), abs=0.03)


def test_config_names_unknown_channel_of_channel_choice():
    from interdep.config import check_config
    from interdep.errors import InputError

    config = {"channels": {"a": {}}, "models": [], "outputs": {"channel_choice": {"channels": ["a", "zz"]}}}
    with pytest.raises(InputError, match="outputs.channel_choice.channels") as err:
        check_config(config, source="config.yaml")
    assert "zz" in str(err.value)


def test_adjusted_marginal_of_a_w_without_eigenvector_basis():
    """A directed kNN-2 graph has no well-conditioned eigenvector basis (the ML engine's ``spectrum`` gives no
    vectors), so the effects adjustment of the log-Jacobian comes from the trace series of ``sar_conv``. Unbalanced,
    two-way effects: the adjusted marginal equals an independent quadrature of the integrand with
    ``log|A_t| - tr(P_tt logm(A_t))`` from dense matrix logarithms, within the error the marginal reports."""
    from scipy.integrate import quad
    from scipy.linalg import logm

    from interdep.models.panel_ml import spectrum

    rng = np.random.default_rng(0)
    N, T = 30, 4
    c = rng.random((N, 2))
    dist = np.linalg.norm(c[:, None] - c[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    a = np.zeros((N, N))
    a[np.repeat(np.arange(N), 2), np.argsort(dist, axis=1)[:, :2].ravel()] = 1
    keep = [np.setdiff1d(np.arange(N), drop) for drop in ([], [3], [3, 17], [8])]
    ws = []
    for k in keep:
        sub = a[np.ix_(k, k)]
        rows = sub.sum(axis=1, keepdims=True)
        ws.append(sp.csr_array(np.divide(sub, rows, out=np.zeros_like(sub), where=rows > 0)))
    assert spectrum(ws[0], vectors=True).V is None  # the case under test
    sizes = [len(k) for k in keep]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    x = rng.standard_normal((starts[-1], 2))
    alpha = rng.standard_normal(N)
    y = np.concatenate([np.linalg.solve(np.eye(len(k)) - 0.3 * w.toarray(), x[s:e] @ [1, -0.5] + alpha[k] + t
                                        + rng.standard_normal(len(k)))
                        for t, (k, w, s, e) in enumerate(zip(keep, ws, starts[:-1], starts[1:], strict=True))])
    sample = pd.DataFrame({"ccode": np.concatenate(keep), "year": np.repeat(np.arange(T), sizes)})
    design = Design("t", y, x, ["x1", "x2"], ["x1", "x2"], ["c"], np.arange(T),
                    [slice(s, e) for s, e in zip(starts[:-1], starts[1:], strict=True)], {"c": ws}, sample, "twoway")
    adjusted, plain = log_marginal(design, "sar"), log_marginal(design, "sar", adjust=False)
    assert adjusted.error < 1e-6

    units = pd.get_dummies(sample["ccode"]).to_numpy(float)
    years = pd.get_dummies(sample["year"]).to_numpy(float)
    d = np.column_stack([units, years])
    p_d = d @ np.linalg.pinv(d)
    xq = x - p_d @ x
    wy = design.lag("c", y)

    def integrand(rho, adjust, top):
        jac = 0.0
        for w, s, e in zip(ws, starts[:-1], starts[1:], strict=True):
            a_t = np.eye(e - s) - rho * w.toarray()
            jac += np.linalg.slogdet(a_t)[1] - (np.trace(p_d[s:e, s:e] @ logm(a_t)).real if adjust else 0.0)
        q = (y - rho * wy) - p_d @ (y - rho * wy)
        r = q - xq @ np.linalg.lstsq(xq, q, rcond=None)[0]
        return np.exp(jac - 0.5 * (len(y) - 2 - (N + T - 1)) * np.log(r @ r) - top)

    logs = []
    for adjust, m in ((True, adjusted), (False, plain)):
        top = np.log(integrand(m.rho_mean, adjust, 0.0))
        lo, hi = max(m.interval[0], m.rho_mean - 12 * m.rho_sd), min(m.interval[1], m.rho_mean + 12 * m.rho_sd)
        val, _ = quad(integrand, lo, hi, args=(adjust, top), points=[m.rho_mean], epsabs=0, epsrel=1e-10,
                      limit=200)
        logs.append(np.log(val) + top)
    assert abs(logs[0] - logs[1]) > 0.05  # the adjustment matters here
    # within the error the marginal reports (series bound + integration), plus the quadrature's own
    assert adjusted.log_marginal - plain.log_marginal == pytest.approx(logs[0] - logs[1], abs=adjusted.error + 1e-8)


def test_subset_with_a_near_complete_channel_stays_within_the_series_range():
    """A complete graph's admissible interval reaches -29 here; the subset's marginal integrates rho within
    (-1, 1), where the effects adjustment's series converges, and is finite with a small error (it overflowed
    near that channel's vertex before)."""
    from interdep.models.design import build_design

    mc, graphs, panel = _unbalanced_panel()
    design = build_design({"id": "s", "weights": ["a", "complete"], "outcome": "y", "regressors": ["x1", "x2"],
                           "effects": "twoway"}, panel, graphs)
    jac = ConvexLogJacobian(design, ["a", "complete"])
    g = np.array([1e-6, 1 - 1e-6])
    vertex = _lag_marginal(_mixture_design(design, ["a", "complete"], g, "sar"), "conv", "sar", convex=(jac, g))
    assert vertex.interval[0] < -20 and np.isfinite(vertex.log_marginal)
    assert vertex.grid[0][0] > -1 and vertex.grid[0][-1] < 1
    m, _ = subset_marginal(design, "sar", seed=1, rounds=(8, 8))
    assert np.isfinite(m.log_marginal) and m.error < 0.5
