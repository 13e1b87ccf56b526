"""Random unit effects for sar_ml (interdep.models.panel_random): the likelihood and both information matrices
against dense re-computations on a small unbalanced panel with a different W every year, Monte Carlo recovery,
the Hausman test's power, fit.json / tables, and bad input. (Agreement with R splm: tests/test_models_vs_r.py.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from interdep.errors import EstimationError, InputError
from interdep.models.design import build_design
from interdep.models.fit import fit_model
from interdep.models.panel_ml import fit_sar_ml
from interdep.models.panel_random import _RandomEffects, fit_sar_re, hausman, island_rows, transform_applies
from interdep.montecarlo import simulate_panel
from interdep.outputs.tables import diagnostics_table, regression_table

REGRESSORS = ["x1", "x2"]


def _spec(effects: str = "random", **extra) -> dict:
    return {"id": "re", "estimator": "sar_ml", "weights": ["c0"], "outcome": "y", "regressors": REGRESSORS,
            "effects": effects, "impact_draws": 0, **extra}


def _small(effects: str, seed: int = 3, n: int = 25, t: int = 5, drop: float = 0.15):
    """A panel with W different every year, true random effects; unbalanced (15% of state-years missing) unless
    ``drop`` is 0."""
    panel, graphs = simulate_panel(n=n, t=t, rho=(0.4,), beta=(1.0, -0.5), effects=effects, drop=drop, seed=seed)
    design = build_design(_spec("none"), panel, graphs)
    assert design.balanced == (drop == 0)
    return panel, graphs, design


# (process, share missing, time effects, Lee-Yu time transformation)
CASES = [("random", 0.15, False, False), ("random_time", 0.15, True, False), ("random_time", 0.0, True, True),
         ("random_time", 0.15, True, True), ("random_time", "islands", True, True)]


def _with_islands(design, seed: int = 0):
    """``design`` with two states per year made islands (their rows and columns of W zeroed, states left without
    neighbours made islands too, the rest row-standardised again): the case of contiguity W."""
    rng = np.random.default_rng(seed)
    ws = []
    for w in design.weights["c0"]:
        a = (w.toarray() > 0).astype(float)
        island = rng.choice(len(a), size=2, replace=False)
        a[island], a[:, island] = 0.0, 0.0
        while (empty := a.sum(axis=1) == 0).any() and a[:, empty].any():
            a[:, empty] = 0.0
        rows = a.sum(axis=1, keepdims=True)
        ws.append(sp.csr_array(np.divide(a, rows, out=np.zeros_like(a), where=rows > 0)))
    return replace(design, weights={"c0": ws}, cache={})


def _design(effects: str, drop, seed: int = 3):
    """The small panel of a case; ``drop="islands"``: unbalanced (15%) with islands."""
    if drop == "islands":
        design = _with_islands(_small(effects, seed=seed, drop=0.15)[2])
        assert sum(int(isl.sum()) for isl in map(island_rows, design.weights["c0"])) >= 2 * design.n_periods
        return design
    return _small(effects, drop=drop, seed=seed)[2]


def _dense(design, time_effects: bool, transform: bool):
    """The likelihood's data built densely and independently of the estimator: ``(re, y, X, W, D)`` with ``W``
    block-diagonal and ``D`` the state dummies; with the time transformation every year's rows multiplied by
    ``F_t'`` (``F_t`` an orthonormal basis of the complement of ``1`` among the ``n_t`` states present), i.e.
    ``F'y``, ``F'X`` (no constant), ``F'WF`` and ``F'D``, whose model is ``F'y ~ N(...)`` with covariance
    ``sigma2 (I + phi F'DD'F)``; with islands ``F_t`` spans the complement of the connected states' and the
    islands' indicators."""
    re = _RandomEffects(design, time_effects, transform=transform)
    n = design.n_obs
    W = np.zeros((n, n))
    for blk, w in zip(design.blocks, design.weights[design.channels[0]], strict=True):
        W[blk, blk] = w.toarray()
    _, unit = np.unique(design.sample["ccode"].to_numpy(), return_inverse=True)
    D = np.zeros((n, design.n_units))
    D[np.arange(n), unit] = 1.0
    if not transform:
        return re, design.y, re.X, W, D
    F = sla.block_diag(*[sla.null_space(np.vstack([w.sum(axis=1), 1 - w.sum(axis=1)]))
                         for w in design.weights[design.channels[0]]])
    assert F.shape == (n, re.n_eff)
    X = design.X[:, [i for i, nm in enumerate(design.names) if nm != "const"]]
    return re, F.T @ design.y, F.T @ X, F.T @ W @ F, F.T @ D


def _dense_loglik(y, X, W, D, beta, rho, sigma2, phi):
    A = np.eye(len(y)) - rho * W
    omega = sigma2 * (np.eye(len(y)) + phi * D @ D.T)
    return np.linalg.slogdet(A)[1] + stats.multivariate_normal(X @ beta, omega).logpdf(A @ y)


@pytest.mark.parametrize(("effects", "drop", "time_effects", "transform"), CASES)
def test_likelihood_is_the_dense_gaussian_density(effects, drop, time_effects, transform):
    """log L = log|A| + log N(Ay; X beta, sigma2 (I + phi DD')), evaluated densely, at the estimate and elsewhere:
    checks the quasi-demeaning with theta_i from each state's T_i (unbalanced) and, with the time
    transformation (also unbalanced), the Woodbury form of (I + phi F'DD'F)^-1 and its determinant through the
    eigenvalues of D'QD, and that the log-Jacobian sum_t log|I - rho W_t| - T log(1 - rho) is log|I - rho F'WF|."""
    design = _design(effects, drop)
    re, y, X, W, D = _dense(design, time_effects, transform)
    est = fit_sar_re(design, time_effects=time_effects, lee_yu=transform)
    assert est.diagnostics["random_effects"]["time_transformation"] == transform
    phi_hat = est.diagnostics["random_effects"]["phi"]
    for rho, phi in ((est.params[-1], phi_hat), (0.1, 3.0)):
        beta, sigma2, loglik = re.evaluate(rho, phi)
        np.testing.assert_allclose(loglik, _dense_loglik(y, X, W, D, beta, rho, sigma2, phi), rtol=1e-11)
        # beta and sigma2 are the GLS / ML ones of the dense model
        omega_inv = np.linalg.inv(np.eye(len(y)) + phi * D @ D.T)
        ay = y - rho * W @ y
        gls = np.linalg.solve(X.T @ omega_inv @ X, X.T @ omega_inv @ ay)
        np.testing.assert_allclose(beta, gls, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sigma2, (ay - X @ gls) @ omega_inv @ (ay - X @ gls) / len(y), rtol=1e-10)
    maximised = est.diagnostics["log_likelihood_transformed"] if transform else est.log_likelihood
    np.testing.assert_allclose(maximised, re.evaluate(est.params[-1], phi_hat)[2], rtol=1e-14)


def test_balanced_time_transformation_is_lee_yus():
    """Balanced with row-standardised W_t the unbalanced-exact transformation is Lee & Yu's: N - 1 pseudo-states
    F_N'y_t (one F_N for all years), each quasi-demeaned with theta = (1 + T phi)^(-1/2), log-likelihood
    -(n - T)/2 log(2 pi sigma2) - (N - 1)/2 log(1 + T phi) + sum_t log|I - rho F'W_tF| - SSR / (2 sigma2):
    beta, sigma2, the log-likelihood and both information matrices agree to 1e-10."""
    _, _, design = _small("random_time", drop=0.0)
    re = _RandomEffects(design, True, transform=True)
    N, T = design.n_units, design.n_periods
    F = sla.null_space(np.ones((1, N)))
    keep = [i for i, nm in enumerate(design.names) if nm != "const"]
    wd = [F.T @ w.toarray() @ F for w in design.weights["c0"]]
    y = np.concatenate([F.T @ design.y[b] for b in design.blocks])
    X = np.vstack([F.T @ design.X[b][:, keep] for b in design.blocks])
    wy = np.concatenate([w @ y[t * (N - 1):(t + 1) * (N - 1)] for t, w in enumerate(wd)])
    unit = np.tile(np.arange(N - 1), T)
    for rho, phi in ((0.4, 1.0), (0.1, 3.0), (-0.3, 0.02)):
        theta = 1 - 1 / np.sqrt(1 + T * phi)

        def qd(v, theta=theta):
            means = np.stack([np.bincount(unit, weights=c) for c in np.atleast_2d(v.T)], axis=-1) / T
            return v - theta * (means[unit] if v.ndim == 2 else means[unit, 0])

        xs, ys = qd(X), qd(y - rho * wy)
        beta = np.linalg.lstsq(xs, ys, rcond=None)[0]
        n = len(y)
        sigma2 = np.sum((ys - xs @ beta) ** 2) / n
        loglik = (-n / 2 * np.log(2 * np.pi * sigma2) - (N - 1) / 2 * np.log1p(T * phi)
                  + sum(np.linalg.slogdet(np.eye(N - 1) - rho * w)[1] for w in wd) - n / 2)
        b, s2, ll = re.evaluate(rho, phi)
        np.testing.assert_allclose(b, beta, rtol=1e-10)
        np.testing.assert_allclose([s2, ll], [sigma2, loglik], rtol=1e-10)
        # information: the pseudo-state formulas (D* the pseudo-state dummies, Sigma = I + phi D*D*')
        W = sla.block_diag(*wd)
        Ds = np.zeros((n, N - 1))
        Ds[np.arange(n), unit] = 1.0
        dense = _dense_information(X, W, Ds, b, rho, s2, phi)
        np.testing.assert_allclose(re.information(b, rho, s2, phi), dense, rtol=1e-10, atol=1e-10 * np.abs(dense).max())


def _dense_information(X, W, D, beta, rho, sigma2, phi):
    """The general Gaussian expected information of (beta, rho, sigma2, phi) with dense n x n matrices:
    I_rr = tr(GG) + tr(G' Omega^-1 G Omega) + (G mu)' Omega^-1 G mu, I_r,theta_j = tr(Omega^-1 G dOmega_j),
    I_theta = tr(Omega^-1 dOmega_i Omega^-1 dOmega_j) / 2."""
    n = len(X)
    G = W @ np.linalg.inv(np.eye(n) - rho * W)
    sig = np.eye(n) + phi * D @ D.T
    omega, omega_inv = sigma2 * sig, np.linalg.inv(sigma2 * sig)
    d_omega = [sig, sigma2 * D @ D.T]  # d Omega / d sigma2, d Omega / d phi
    gmu = G @ X @ beta
    k = X.shape[1]
    dense = np.zeros((k + 3, k + 3))
    dense[:k, :k] = X.T @ omega_inv @ X
    dense[:k, k] = dense[k, :k] = X.T @ omega_inv @ gmu
    dense[k, k] = np.trace(G @ G) + np.trace(G.T @ omega_inv @ G @ omega) + gmu @ omega_inv @ gmu
    for i, di in enumerate(d_omega):
        dense[k, k + 1 + i] = dense[k + 1 + i, k] = np.trace(omega_inv @ G @ di)
        for j, dj in enumerate(d_omega):
            dense[k + 1 + i, k + 1 + j] = 0.5 * np.trace(omega_inv @ di @ omega_inv @ dj)
    return dense


@pytest.mark.parametrize(("effects", "drop", "time_effects", "transform"), CASES[1:])
def test_expected_information_equals_dense_traces(effects, drop, time_effects, transform):
    """The scatter-added traces of the expected information equal the general Gaussian formulas computed with
    dense matrices of the (transformed) model."""
    design = _design(effects, drop)
    re, _, X, W, D = _dense(design, time_effects, transform)
    beta, sigma2, _ = re.evaluate(0.3, 0.8)
    dense = _dense_information(X, W, D, beta, 0.3, sigma2, 0.8)
    np.testing.assert_allclose(re.information(beta, 0.3, sigma2, 0.8), dense, rtol=1e-9,
                               atol=1e-9 * np.abs(dense).max())


@pytest.mark.parametrize(("effects", "drop", "time_effects", "transform"), CASES)
def test_observed_information_equals_finite_difference_hessian(effects, drop, time_effects, transform):
    """Minus the central-difference Hessian of the full log-likelihood in (beta, rho, sigma2, phi) at the
    estimate (the estimator's own formula, which equals the dense density: test above): the standard errors agree
    to 1e-5 (the differencing error)."""
    design = _design(effects, drop, seed=5)
    re = _RandomEffects(design, time_effects, transform=transform)
    est = fit_sar_re(design, time_effects=time_effects, lee_yu=transform, information="observed")
    phi = est.diagnostics["random_effects"]["phi"]
    beta, sigma2, _ = re.evaluate(est.params[-1], phi)
    k, n = len(beta), re.n_eff

    def loglik(p):
        b, rho, s2, ph = p[:k], p[k], p[k + 1], p[k + 2]
        r = re.quasi_demean(re.y - rho * re.wy - re.X @ b, ph)
        return (-n / 2 * np.log(2 * np.pi * s2) - 0.5 * np.sum(np.log1p(re.a * ph)) + re.logdet(rho)
                - r @ r / (2 * s2))

    p0 = np.concatenate([beta, [est.params[-1], sigma2, phi]])
    h = 1e-4 * np.maximum(np.abs(p0), 0.1)
    m = len(p0)
    H = np.zeros((m, m))
    for i in range(m):
        for j in range(i, m):
            ei, ej = np.eye(m)[i] * h[i], np.eye(m)[j] * h[j]
            H[i, j] = H[j, i] = (loglik(p0 + ei + ej) - loglik(p0 + ei - ej) - loglik(p0 - ei + ej)
                                 + loglik(p0 - ei - ej)) / (4 * h[i] * h[j])
    se_numeric = np.sqrt(np.diag(np.linalg.inv(-H)))
    se = np.sqrt(np.diag(np.linalg.inv(re.observed_information(beta, est.params[-1], sigma2, phi))))
    np.testing.assert_allclose(se, se_numeric, rtol=1e-5)
    shown = [re.names.index(t) for t in est.terms[:-1]]
    np.testing.assert_allclose(est.std_errors, se[[*shown, k]], rtol=1e-12)


@pytest.mark.parametrize(("effects", "drop"), [("random", 0.15), ("random_time", 0.0), ("random_time", 0.15)])
def test_monte_carlo_recovery(effects, drop):
    """40 replications of N = 40 states x T = 6 years (W new every year; unbalanced with drop) with true random
    state effects (sigma2_mu = sigma2 = 1, phi = 1; random_time: and year effects, removed by the time
    transformation): every estimate's mean within 3.5 Monte Carlo s.e. of the truth, the mean s.e. of beta and rho
    within 25% of the spread, and 95% coverage of rho and beta >= 0.85."""
    truth = {"x1": 1.0, "x2": -0.5, "rho_c0": 0.4, "phi": 1.0}
    rows = []
    for rep in range(40):
        panel, graphs = simulate_panel(n=40, t=6, rho=(0.4,), beta=(1.0, -0.5), effects=effects, drop=drop,
                                       seed=100 + rep)
        est = fit_sar_re(build_design(_spec("none"), panel, graphs), time_effects=effects == "random_time")
        assert est.converged
        coefs = est.coefficients().set_index("term")
        rows.append({**{t: (coefs.loc[t, "estimate"], coefs.loc[t, "std_error"]) for t in ("x1", "x2", "rho_c0")},
                     "phi": (est.diagnostics["random_effects"]["phi"], np.nan)})
    for term, value in truth.items():
        est = np.array([r[term][0] for r in rows])
        assert abs(est.mean() - value) < 3.5 * est.std(ddof=1) / np.sqrt(len(est)), (term, est.mean())
        if term != "phi":
            se = np.array([r[term][1] for r in rows])
            assert 0.75 < se.mean() / est.std(ddof=1) < 1.25, (term, se.mean(), est.std(ddof=1))
            assert np.mean(np.abs(est - value) <= 1.96 * se) >= 0.85, term


def test_fit_json_hausman_and_tables():
    """fit.json of a random-effects fit: effects, phi, the Hausman test against the fixed-effects fit of the same
    sample; it rejects when the state effects are correlated with X (the simulator's unit-effects process) and is
    shown in the diagnostics table."""
    panel, graphs = simulate_panel(n=40, t=6, rho=(0.4,), beta=(1.0, -0.5), effects="unit", seed=11)
    res = fit_model(_spec("random", impact_draws=50), panel, graphs)
    fit = res.fit
    assert fit["effects"] == "random" and fit["estimator"] == "sar_ml"
    assert set(fit["random_effects"]) == {"phi", "phi_std_error", "sigma2_mu", "sigma2", "time_transformation"}
    h = fit["hausman"]
    assert h["df"] == 2 and h["terms"] == REGRESSORS
    assert h["statistic"] > 20 and h["p_value"] < 1e-4
    assert h["against"] == "sar_ml, effects: unit (lee_yu: True)"
    np.testing.assert_allclose(h["p_value"], stats.chi2.sf(h["statistic"], 2))
    assert list(res.estimate.terms) == ["const", *REGRESSORS, "rho_c0"]
    assert len(res.impacts) == 3 * len(REGRESSORS) and len(res.profile) == 41
    assert res.profile["log_likelihood"].max() <= fit["log_likelihood"] + 1e-9
    models = {"re": (fit, res.estimate.coefficients())}
    table = diagnostics_table(models)
    assert table["test"].tolist() == ["Hausman, random vs fixed effects (df 2)"]
    np.testing.assert_allclose(table["statistic"], h["statistic"])
    regression = regression_table(models, ["re"], {})
    assert regression.set_index("").loc["Fixed effects", "re"] == "random state"


def test_hausman_size_under_random_effects():
    """With true random effects the Hausman test rejects at 5% in at most 4 of 40 replications (5%: 2 expected)."""
    rejections = 0
    for rep in range(40):
        panel, graphs = simulate_panel(n=40, t=6, rho=(0.4,), beta=(1.0, -0.5), effects="random", seed=200 + rep)
        fixed = fit_sar_ml(build_design(_spec("unit"), panel, graphs))
        random = fit_sar_re(build_design(_spec("none"), panel, graphs))
        rejections += hausman(fixed, random)["p_value"] < 0.05
    assert rejections <= 4


@pytest.mark.parametrize(("spec", "error", "match"), [
    (_spec("random", estimator="sem_ml"), InputError, "sar_ml and sdm_ml only"),
    (_spec("random", estimator="ols"), InputError, "sar_ml and sdm_ml only"),
    (_spec("random_time", weights=["c0", "c1"]), InputError, "exactly one weights channel"),
    (_spec("random", dynamic=True), InputError, "dynamic"),
    (_spec("randomly"), InputError, "randomly"),
    (_spec("random", years=[2000, 2000]), EstimationError, "two or more years"),
])
def test_bad_input(spec, error, match):
    panel, graphs = simulate_panel(n=20, t=3, rho=(0.3, 0.2), effects="random", seed=1)
    with pytest.raises(error, match=match):
        fit_model(spec, panel, graphs)


def test_sdm_with_random_effects():
    """sdm_ml with random effects: the W x terms are coefficients like the others, in the Hausman test too."""
    panel, graphs = simulate_panel(n=30, t=5, rho=(0.3,), effects="random", seed=4)
    res = fit_model(_spec("random", estimator="sdm_ml"), panel, graphs)
    assert res.estimate.terms == ["const", *REGRESSORS, "W_c0_x1", "W_c0_x2", "rho_c0"]
    assert res.fit["hausman"]["df"] == 4 and res.fit["converged"]


def test_monte_carlo_chunk_records_the_hausman_p_value():
    """interdep.montecarlo.run_chunk keeps each random-effects fit's Hausman p-value (term hausman_p_value, no true
    value, so summarise leaves it out): the p-value fit_model writes to fit.json for the same simulated panel."""
    from interdep.montecarlo import design_graphs, model_spec, parse_study, run_chunk, simulate, summarise

    study = {"replications": 2, "estimators": {"re": {"estimator": "sar_ml", "effects": "random_time"}},
             "designs": [{"id": "d", "n": 20, "t": 4, "effects": "random_time", "beta": [1.0, -0.5], "drop": 0.1,
                          "channels": {"geo": {"rho": 0.4, "w": "knn", "k": 4, "varying": True}}}]}
    (design,), estimators = parse_study(study)
    frame = run_chunk(design, estimators, range(2), seed=7)
    p = frame.loc[frame["term"] == "hausman_p_value"]
    assert len(p) == 2 and p["truth"].isna().all()
    graphs = design_graphs(design, 7)
    fit = fit_model(model_spec(design, "re", estimators["re"]), simulate(design, graphs, 7, 1), graphs).fit
    assert fit["random_effects"]["time_transformation"]  # unbalanced: the exact transformation applies
    np.testing.assert_allclose(p["estimate"].iloc[1], fit["hausman"]["p_value"], rtol=1e-12)
    assert "hausman_p_value" not in set(summarise(frame)["term"])


def test_island_rows_decide_where_the_time_transformation_is_exact():
    """Row sums 1, or 0 for islands nobody has as neighbour: exact (islands returned); an island that is another
    state's neighbour, or rows not summing to 1: not (None, so random_time falls back to year dummies)."""
    w = np.array([[0, 0.5, 0.5, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(island_rows(sp.csr_array(w)), [False, False, False, True])
    w_bad = w.copy()
    w_bad[0] = [0, 0.5, 0, 0.5]  # state 3 (an island) is state 0's neighbour
    assert island_rows(sp.csr_array(w_bad)) is None
    assert island_rows(sp.csr_array(2 * w)) is None
    _, _, design = _small("random_time", drop=0.15)
    assert not transform_applies(replace(design, weights={"c0": [2 * w for w in design.weights["c0"]]}, cache={}))
