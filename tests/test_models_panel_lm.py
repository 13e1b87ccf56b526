"""Panel LM tests of OLS residuals: the transformed within tests and the Baltagi-Song-Koh (2003) tests.

Agreement with R splm's ``slmtest`` and ``bsktest`` is in tests/test_models_vs_r.py (it needs R). Here: the
transformed within tests equal Anselin's LM tests on the data transformed by Lee & Yu's (2010) orthonormal
transformation (an independent route: the cross-section tests are validated against spreg and Columbus), their
size under the null, the exact moments of the standardised BSK tests, fit.json / the table, and bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from interdep.models.design import EffectsProjector
from interdep.models.diagnostics import OLSParts, bsk_conditional_tests, bsk_tests, lm_tests, transformed_lm_tests
from interdep.models.fit import fit_model
from interdep.montecarlo import knn_graph, simulate_panel
from interdep.outputs.tables import diagnostics_table

SPEC = {"id": "lm", "estimator": "ols", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"]}


def _helmert(m: int) -> np.ndarray:
    """m x (m-1) orthonormal basis of the complement of the constant (Lee & Yu's F_{m,m-1})."""
    vals, vecs = np.linalg.eigh(np.eye(m) - np.ones((m, m)) / m)
    return vecs[:, vals > 0.5]


def _balanced(n: int = 30, t: int = 4, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y (t x n), X (t x n x 2), W (n x n, row-standardised kNN): rows of the stacked panel year-slow."""
    rng = np.random.default_rng(seed)
    W = knn_graph(rng.uniform(size=(n, 2)), list(range(n)), 4).sparse.toarray()
    X = rng.normal(size=(t, n, 2)) + rng.normal(size=(1, n, 1))
    u = np.linalg.solve(np.eye(n) - 0.3 * W, rng.normal(size=(n, t))).T  # a spatial error, so tests are not ~0
    y = X @ [1.0, -0.5] + rng.normal(size=(1, n)) + rng.normal(size=(t, 1)) + u + 0.2 * (W @ X[..., 0].T).T
    return y, X, W


@pytest.mark.parametrize("effects", ["unit", "time", "twoway"])
def test_transformed_tests_equal_lm_tests_on_lee_yu_transformed_data(effects):
    y, X, W = _balanced()
    t, n = y.shape
    units, years = np.tile(np.arange(n), t), np.repeat(np.arange(t), n)
    Q = EffectsProjector(units, years, effects)
    Wst = sp.kron(sp.identity(t), sp.csr_array(W), format="csr")
    ys, Xs = y.ravel(), X.reshape(t * n, 2)
    ours = transformed_lm_tests(OLSParts.fit(Q(ys), Q(Xs)), ys, Wst, Q.D, Q.dtd_pinv)
    # Lee & Yu: premultiply by F_T' over periods and/or post-multiply by F_N over units; W* = F_N' W F_N
    Ft = _helmert(t) if effects in ("unit", "twoway") else np.eye(t)
    Fn = _helmert(n) if effects in ("time", "twoway") else np.eye(n)
    ty = (Ft.T @ y @ Fn).ravel()
    tX = np.stack([(Ft.T @ X[..., j] @ Fn).ravel() for j in range(2)], axis=1)
    tW = sp.kron(sp.identity(Ft.shape[1]), sp.csr_array(Fn.T @ W @ Fn), format="csr")
    ref = lm_tests(OLSParts.fit(ty, tX), tW)
    for key in ("lm_error", "lm_lag", "robust_lm_error", "robust_lm_lag", "sarma"):
        assert ours[key]["statistic"] == pytest.approx(ref[key]["statistic"], rel=1e-9), key
    # unit effects: Debarsy & Ertur's error test is (T-1)/T times the untransformed one (s2 and trace)
    if effects == "unit":
        plain = lm_tests(OLSParts.fit(Q(ys), Q(Xs)), Wst)
        assert ours["lm_error"]["statistic"] == pytest.approx(plain["lm_error"]["statistic"] * (t - 1) / t,
                                                              rel=1e-10)


def test_transformed_tests_have_their_size_and_the_untransformed_do_not():
    """Under H0 (no spatial lag or error; unit effects; T = 3) the transformed LM error and lag tests are
    chi2(1): mean near 1 and 5% rejections; the untransformed (slmtest) error test is T/(T-1) = 1.5 times as
    large and over-rejects. 1,000 replications, fixed seed."""
    n, t, reps = 40, 3, 1000
    rng = np.random.default_rng(11)
    W = sp.csr_array(knn_graph(rng.uniform(size=(n, 2)), list(range(n)), 4).sparse)
    Wst = sp.kron(sp.identity(t), W, format="csr")
    units, years = np.tile(np.arange(n), t), np.repeat(np.arange(t), n)
    Q = EffectsProjector(units, years, "unit")
    X = rng.normal(size=(n * t, 2)) + np.tile(rng.normal(size=n), t)[:, None]
    QX = Q(X)
    stats_ = {"lm_error": [], "lm_lag": [], "robust_lm_error": [], "plain_error": []}
    for _ in range(reps):
        y = X @ [1.0, -1.0] + np.tile(rng.normal(size=n), t) + rng.normal(size=n * t)
        ols = OLSParts.fit(Q(y), QX)
        res = transformed_lm_tests(ols, y, Wst, Q.D, Q.dtd_pinv)
        for key in ("lm_error", "lm_lag", "robust_lm_error"):
            stats_[key].append(res[key]["statistic"])
        stats_["plain_error"].append(lm_tests(ols, Wst)["lm_error"]["statistic"])
    crit = stats.chi2.ppf(0.95, 1)
    for key in ("lm_error", "lm_lag", "robust_lm_error"):
        s = np.asarray(stats_[key])
        assert abs(s.mean() - 1) < 0.15, (key, s.mean())  # s.e. of the mean ~ 0.045
        assert 0.03 < (s > crit).mean() < 0.07, (key, (s > crit).mean())  # s.e. ~ 0.007
    plain = np.asarray(stats_["plain_error"])
    assert plain.mean() > 1.35 and (plain > crit).mean() > 0.08


def test_standardised_bsk_tests_have_mean_zero_and_variance_one_under_h0():
    """SLM1 and SLM2 are standardised by the exact moments under normality: over 1,000 pooled panels
    without effects or spatial dependence their mean is 0 and variance 1 (s.e. ~ 0.032, 0.045)."""
    n, t, reps = 30, 4, 1000
    rng = np.random.default_rng(5)
    W = sp.csr_array(knn_graph(rng.uniform(size=(n, 2)), list(range(n)), 4).sparse)
    Wst = sp.kron(sp.identity(t), W, format="csr")
    units = np.tile(np.arange(n), t)
    X = np.column_stack([np.ones(n * t), rng.normal(size=(n * t, 2))])
    out = np.array([[bsk_tests(OLSParts.fit(X @ [1, 1, -1] + rng.normal(size=n * t), X), Wst, units)[k]["statistic"]
                     for k in ("slm1", "slm2")] for _ in range(reps)])
    assert np.all(np.abs(out.mean(0)) < 0.1), out.mean(0)
    assert np.all(np.abs(out.var(0) - 1) < 0.15), out.var(0)


def test_conditional_bsk_tests_hold_their_size_and_detect_their_alternative():
    """CLM lambda under random effects without spatial error, CLM mu under a spatial error without random effects:
    5% rejections (300 panels, N = 30, T = 5; s.e. of the rate ~ 0.013); each rejects when its alternative holds."""
    n, t, reps = 30, 5, 300
    rng = np.random.default_rng(8)
    W = knn_graph(rng.uniform(size=(n, 2)), list(range(n)), 4).sparse.toarray()
    X = np.column_stack([np.ones(n * t), rng.normal(size=(n * t, 2))])
    B_inv = np.linalg.inv(np.eye(n) - 0.5 * W)

    def draw(mu_sd: float, lam: bool) -> np.ndarray:
        e = rng.normal(size=(t, n))
        u = (e @ B_inv.T if lam else e) + mu_sd * rng.normal(size=n)
        return X @ [1.0, 1.0, -1.0] + u.ravel()

    crit = stats.norm.ppf(0.975)
    z_lam = np.array([bsk_conditional_tests(draw(1.0, False), X, W, t)["clm_lambda"]["statistic"]
                      for _ in range(reps)])
    z_mu = np.array([bsk_conditional_tests(draw(0.0, True), X, W, t)["clm_mu"]["statistic"] for _ in range(reps)])
    assert 0.02 < np.mean(np.abs(z_lam) > crit) < 0.09, np.mean(np.abs(z_lam) > crit)
    assert 0.02 < np.mean(z_mu > stats.norm.ppf(0.95)) < 0.09, np.mean(z_mu > stats.norm.ppf(0.95))
    both = bsk_conditional_tests(draw(1.0, True), X, W, t)
    assert both["clm_lambda"]["statistic"] > 4 and both["clm_mu"]["statistic"] > 4, both


def _fit(effects: str, **kw):
    data, graphs = simulate_panel(n=30, t=4, rho=(0.0,), effects="none", seed=2, **kw)
    return fit_model({**SPEC, "effects": effects}, data, graphs, seed=1).fit


def test_fit_json_and_table_carry_the_panel_tests():
    fixed = _fit("unit", varying=False)
    diag = fixed["spatial_diagnostics"]
    assert set(diag["within_transformed"]) >= {"lm_error", "lm_lag", "robust_lm_error", "robust_lm_lag", "note"}
    assert "slmtest" in diag["convention"] and "bsk" not in diag
    pooled = _fit("none", varying=False)["spatial_diagnostics"]
    assert set(pooled["bsk"]) == {"lm1", "lm2", "slm1", "slm2", "lm_h", "clm_lambda", "clm_mu", "note"}
    assert 0 <= pooled["bsk"]["lm_h"]["p_value"] <= 1
    table = diagnostics_table({"fe": (fixed, None), "pooled": (_fit("none", varying=False), None)})
    tests = set(table["test"])
    assert {"LM error (transformed within)", "BSK LM1 random effects", "BSK LM-H joint"} <= tests
    assert table.loc[table["test"] == "BSK SLM2 spatial error", "z"].notna().all()


@pytest.mark.parametrize(("kw", "why"), [({"varying": True}, "W varies over years"),
                                         ({"varying": False, "drop": 0.1}, "unbalanced panel")])
def test_bsk_not_applicable_is_said_not_faked(kw, why):
    bsk = _fit("none", **kw)["spatial_diagnostics"]["bsk"]
    assert list(bsk) == ["not_applicable"] and why in bsk["not_applicable"]


def test_bad_input_raises_clear_errors():
    y, X, W = _balanced(n=10, t=3)
    ys, Xs = y.ravel(), np.column_stack([np.ones(30), X.reshape(30, 2)])
    Wst = sp.kron(sp.identity(3), sp.csr_array(W), format="csr")
    ols = OLSParts.fit(ys, Xs)
    with pytest.raises(ValueError, match="balanced"):
        bsk_tests(ols, Wst, np.r_[np.tile(np.arange(10), 2), np.arange(9), 0])
    with pytest.raises(ValueError, match="differ in rows"):
        bsk_tests(ols, Wst, np.arange(29))
    with pytest.raises(ValueError, match="no links"):
        bsk_tests(ols, sp.csr_array((30, 30)), np.tile(np.arange(10), 3))
    with pytest.raises(ValueError, match="N\\*T"):
        bsk_conditional_tests(ys[:-1], Xs, W, 3)
    with pytest.raises(ValueError, match="no links"):
        bsk_conditional_tests(ys, Xs, np.zeros((10, 10)), 3)
    Q = EffectsProjector(np.tile(np.arange(10), 3), np.repeat(np.arange(3), 10), "unit")
    qols = OLSParts.fit(Q(ys), Q(Xs[:, 1:]))
    with pytest.raises(ValueError, match="differ in rows"):
        transformed_lm_tests(qols, ys[:-1], Wst, Q.D, Q.dtd_pinv)
    with pytest.raises(ValueError, match="no links"):
        transformed_lm_tests(qols, ys, sp.csr_array((30, 30)), Q.D, Q.dtd_pinv)
