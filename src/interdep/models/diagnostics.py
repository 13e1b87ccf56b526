"""Spatial diagnostics of OLS residuals: Lagrange multiplier tests and Moran's I.

Computed directly from ``y``, ``X``, the OLS coefficients and a sparse ``W`` (Anselin 1988; Anselin, Bera,
Florax & Yoon 1996; Cliff & Ord 1981). Every trace is reduced to sparse products and k x k matrices, so the
functions never form an n x n dense matrix and work for stacked, block-diagonal W of any size. Islands (zero
rows of ``W``) need no special treatment. Validated against spreg 1.9.0 and the published Columbus values
(tests/test_models_cross_section.py).

Panels: :func:`lm_tests` on within-projected data is R splm's ``slmtest`` (Elhorst's convention);
:func:`transformed_lm_tests` are the fixed-effects tests of Lee & Yu's transformed likelihood (Debarsy & Ertur
2010); :func:`bsk_tests` and :func:`bsk_conditional_tests` are Baltagi, Song & Koh (2003) for random unit effects
and spatial error. Validated against splm 1.6-5 ``slmtest`` / ``bsktest`` (tests/test_models_vs_r.py) and by
simulation (tests/test_models_panel_lm.py, benchmarks/panel_lm_size.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import optimize, stats

__all__ = ["OLSParts", "bsk_conditional_tests", "bsk_tests", "lm_tests", "moran_residuals", "spatial_diagnostics",
           "transformed_lm_tests"]


@dataclass(frozen=True)
class OLSParts:
    """The pieces of an OLS fit that the diagnostics need.

    Attributes
    ----------
    y : numpy.ndarray
        Outcome, shape (n,).
    X : numpy.ndarray
        Regressors, shape (n, k).
    beta : numpy.ndarray
        OLS coefficients, shape (k,).
    XtX_inv : numpy.ndarray
        (X'X)^-1, shape (k, k).
    """

    y: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    XtX_inv: np.ndarray

    @classmethod
    def fit(cls, y: np.ndarray, X: np.ndarray) -> OLSParts:
        """Fit OLS by a least-squares solve and return its parts."""
        y = np.asarray(y, dtype=float).ravel()
        X = np.asarray(X, dtype=float)
        beta = np.linalg.lstsq(X, y, rcond=None)[0]
        return cls(y=y, X=X, beta=beta, XtX_inv=np.linalg.inv(X.T @ X))

    @property
    def resid(self) -> np.ndarray:
        return self.y - self.X @ self.beta


def _csr(W: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    W = sp.csr_matrix(W, dtype=float)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square, got shape {W.shape}")
    return W


def _chi2(stat: float, df: int) -> dict[str, float]:
    return {"statistic": float(stat), "df": df, "p_value": float(stats.chi2.sf(stat, df))}


def lm_tests(ols: OLSParts, W: sp.spmatrix | sp.sparray) -> dict[str, dict[str, float]]:
    """Classic and robust LM tests for a spatial lag and a spatial error.

    Parameters
    ----------
    ols : OLSParts
        The OLS fit (see :meth:`OLSParts.fit`).
    W : scipy.sparse matrix
        n x n spatial weights (zero diagonal; islands allowed).

    Returns
    -------
    dict
        Keys ``lm_error``, ``lm_lag``, ``robust_lm_error``, ``robust_lm_lag``, ``sarma``; each a dict with
        ``statistic``, ``df`` and ``p_value`` (chi-squared).
    """
    W = _csr(W)
    n = ols.X.shape[0]
    e = ols.resid
    s2 = e @ e / n
    T = float(W.multiply(W).sum() + W.multiply(W.T).sum())  # tr(W'W) + tr(WW)
    if T <= 0:
        raise ValueError("W has no links: tr(W'W + WW) = 0, LM tests undefined")
    wxb = W @ (ols.X @ ols.beta)
    mwxb = wxb - ols.X @ (ols.XtX_inv @ (ols.X.T @ wxb))
    D = float(wxb @ mwxb) / s2 + T  # n J in Anselin's notation
    return _lm_set(float(e @ (W @ e)) / s2, float(e @ (W @ ols.y)) / s2, T, D)


def _lm_set(u_err: float, u_lag: float, T: float, D: float) -> dict[str, dict[str, float]]:
    """The five LM statistics from the scaled scores ``u_err = e'We/s2``, ``u_lag = e'Wy/s2``, the trace term
    ``T`` and ``D = n J`` (Anselin 1988; Anselin, Bera, Florax & Yoon 1996)."""
    return {
        "lm_error": _chi2(u_err**2 / T, 1),
        "lm_lag": _chi2(u_lag**2 / D, 1),
        "robust_lm_error": _chi2((u_err - T / D * u_lag) ** 2 / (T * (1 - T / D)), 1),
        "robust_lm_lag": _chi2((u_lag - u_err) ** 2 / (D - T), 1),
        "sarma": _chi2((u_lag - u_err) ** 2 / (D - T) + u_err**2 / T, 2),
    }


def transformed_lm_tests(
    ols: OLSParts, y: np.ndarray, W: sp.spmatrix | sp.sparray, D: sp.spmatrix | sp.sparray, DtD_pinv: np.ndarray
) -> dict[str, dict[str, float]]:
    """LM lag / error tests (classic and robust) of a fixed-effects panel in the transformed form.

    ``ols`` is the OLS fit on the within-projected data ``Qy``, ``QX`` with ``Q = I - D (D'D)^- D'``. With
    ``p = rank(D)`` and ``e`` the within residuals:

    - ``s2 = e'e / (n - p)`` (not ``e'e / n``),
    - ``T = tr(QWQW) + tr(QW'QW)`` (not ``tr(WW) + tr(W'W)``),
    - ``u_err = e'We / s2``, ``u_lag = e'Wy / s2`` with the untransformed ``y``,
    - ``D = (QW yhat)' M (QW yhat) / s2 + T`` with ``yhat = y - e`` and ``M = I - QX (X'QX)^-1 X'Q``.

    For a balanced panel with one row-standardised W these are the LM tests of Lee & Yu's (2010) transformed
    likelihood: for unit effects Debarsy & Ertur's (2010) within tests (``s2 = e'e/(N(T-1))``, ``T = (T-1)
    tr(WW + W'W)``), and likewise for time and two-way effects. For unbalanced panels or W varying by year they
    are the same statistics with the exact projection. The untransformed convention (``s2 = e'e/n``, untransformed
    traces; Elhorst 2010, splm's ``slmtest``) is :func:`lm_tests` on the projected data.

    Parameters
    ----------
    ols : OLSParts
        OLS on the projected data (``ols.y = Qy``, ``ols.X = QX``).
    y : numpy.ndarray
        The untransformed outcome, shape (n,).
    W : scipy.sparse matrix
        n x n stacked (block-diagonal) weights.
    D : scipy.sparse matrix
        n x q dummies of the effects (rank ``p`` may be below ``q``, e.g. two-way effects).
    DtD_pinv : numpy.ndarray
        Pseudo-inverse of ``D'D``, shape (q, q).

    Returns
    -------
    dict
        ``lm_error``, ``lm_lag``, ``robust_lm_error``, ``robust_lm_lag``, ``sarma`` (``statistic``, ``df``,
        ``p_value``).
    """
    W = _csr(W)
    D = sp.csr_matrix(D, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    n = ols.X.shape[0]
    if y.shape[0] != n or D.shape[0] != n or W.shape[0] != n:
        raise ValueError(f"y ({y.shape[0]}), D ({D.shape[0]}), W ({W.shape[0]}) and X ({n}) differ in rows")
    A = np.asarray(DtD_pinv, dtype=float)
    p = int(np.linalg.matrix_rank(A, hermitian=True))
    e = ols.resid
    s2 = e @ e / (n - p)
    WD, WtD = W @ D, W.T @ D
    G1 = (D.T @ WD).toarray()  # D'WD
    tr_qwqw = float(W.multiply(W.T).sum()) - 2 * np.trace(A @ (WtD.T @ WD).toarray()) + np.trace(A @ G1 @ A @ G1)
    tr_qwtqw = (float(W.multiply(W).sum()) - np.trace(A @ (WD.T @ WD).toarray()) - np.trace(A @ (WtD.T @ WtD).toarray())
                + np.trace(A @ G1.T @ A @ G1))
    T = tr_qwqw + tr_qwtqw
    if T <= 0:
        raise ValueError("W has no links after the within projection: LM tests undefined")

    def q(v: np.ndarray) -> np.ndarray:
        return v - D @ (A @ (D.T @ v))

    qwyhat = q(W @ (y - e))
    mq = qwyhat - ols.X @ (ols.XtX_inv @ (ols.X.T @ qwyhat))
    return _lm_set(float(e @ (W @ e)) / s2, float(e @ (W @ y)) / s2, T, float(qwyhat @ mq) / s2 + T)


def bsk_tests(ols: OLSParts, W: sp.spmatrix | sp.sparray, units: np.ndarray) -> dict[str, dict[str, float]]:
    """Baltagi, Song & Koh (2003) LM tests for random unit effects and spatial error on pooled OLS residuals.

    Needs a balanced panel with one W for every period (``W`` = the stacked ``I_T kron W_N`` in the rows' order,
    any order of rows). With ``e`` the pooled OLS residuals, ``D1 = J_T kron I_N`` (sum over a unit's periods)
    and ``D2 = I_T kron W_N``:

    - ``lm1 = sqrt(NT / (2(T-1))) (e'D1e / e'e - 1)``: random effects, one-sided (H1: sigma2_mu > 0),
    - ``lm2 = sqrt(N^2 T / b) e'D2e / e'e``, ``b = tr(W_N^2 + W_N'W_N)``: spatial error, two-sided,
    - ``lm_h = max(lm1, 0)^2 + max(lm2, 0)^2``: Honda-type one-sided joint test, p-value from the mixture
      ``0.25 chi2(0) + 0.5 chi2(1) + 0.25 chi2(2)``,
    - ``slm1``, ``slm2``: ``lm1``, ``lm2`` standardised by the exact mean and variance of ``e'D e / e'e`` under
      normality, ``E = tr(MD)/(n-k)``, ``V = 2 [(n-k) tr(MDMD) - tr(MD)^2] / ((n-k)^2 (n-k+2))`` with ``D``
      symmetrised (``(D2 + D2')/2``) as the quadratic form requires.

    Parameters
    ----------
    ols : OLSParts
        Pooled OLS fit (with a constant).
    W : scipy.sparse matrix
        n x n stacked weights, the same N x N matrix in every period.
    units : numpy.ndarray
        Unit label of every row, shape (n,).

    Returns
    -------
    dict
        ``lm1``, ``lm2``, ``slm1``, ``slm2`` (``statistic``, ``p_value``; normal) and ``lm_h`` (``statistic``,
        ``p_value``).

    Raises
    ------
    ValueError
        Rows and labels differ in number, the panel is not balanced or has one period.
    """
    W = _csr(W)
    X, A, e = ols.X, ols.XtX_inv, ols.resid
    n, k = X.shape
    units = np.asarray(units)
    if units.shape[0] != n or W.shape[0] != n:
        raise ValueError(f"units ({units.shape[0]}), W ({W.shape[0]}) and X ({n}) differ in rows")
    _, code, counts = np.unique(units, return_inverse=True, return_counts=True)
    N, T = len(counts), int(counts[0])
    if np.any(counts != T) or T < 2:
        raise ValueError("BSK tests need a balanced panel with at least two periods")

    def d1(v: np.ndarray) -> np.ndarray:  # (J_T kron I_N) v: each row gets its unit's sum
        sums = np.zeros((N,) + v.shape[1:])
        np.add.at(sums, code, v)
        return sums[code]

    ee = float(e @ e)
    G = float(e @ d1(e)) / ee - 1
    H = float(e @ (W @ e)) / ee
    b = float(W.multiply(W.T).sum() + W.multiply(W).sum()) / T
    if b <= 0:
        raise ValueError("W has no links: tr(W^2 + W'W) = 0, BSK tests undefined")
    lm1 = np.sqrt(n / (2 * (T - 1))) * G
    lm2 = np.sqrt(N**2 * T / b) * H
    s = n - k
    # SLM1: D1^2 = T D1
    D1X = d1(X)
    XD1X = X.T @ D1X
    tr_md1 = n - np.trace(A @ XD1X)
    tr_md1md1 = T * n - 2 * T * np.trace(A @ XD1X) + np.trace(A @ XD1X @ A @ XD1X)
    slm1 = (G + 1 - tr_md1 / s) / np.sqrt(2 * (s * tr_md1md1 - tr_md1**2) / (s**2 * (s + 2)))
    # SLM2: the moments of Moran's I of the residuals (D2 symmetrised)
    slm2 = moran_residuals(ols, W)["z"]  # Moran's I is e'D2e/e'e times n/S0, which standardising removes
    joint = max(lm1, 0.0) ** 2 + max(lm2, 0.0) ** 2
    p_joint = 1.0 if joint <= 0 else float(0.5 * stats.chi2.sf(joint, 1) + 0.25 * stats.chi2.sf(joint, 2))
    return {
        "lm1": {"statistic": float(lm1), "p_value": float(stats.norm.sf(lm1))},
        "lm2": {"statistic": float(lm2), "p_value": float(2 * stats.norm.sf(abs(lm2)))},
        "slm1": {"statistic": float(slm1), "p_value": float(stats.norm.sf(slm1))},
        "slm2": {"statistic": float(slm2), "p_value": float(2 * stats.norm.sf(abs(slm2)))},
        "lm_h": {"statistic": float(joint), "p_value": p_joint},
    }


def _panel_arrays(y: np.ndarray, X: np.ndarray, W: sp.spmatrix | sp.sparray, T: int):
    y = np.asarray(y, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    W = _csr(W).toarray()
    N = W.shape[0]
    if y.shape[0] != N * T or X.shape[0] != N * T or T < 2:
        raise ValueError(f"y ({y.shape[0]}) and X ({X.shape[0]}) must have N*T = {N}*{T} rows, T >= 2")
    if not np.any(W):
        raise ValueError("W has no links: BSK tests undefined")
    return y.reshape(T, N), X.reshape(T, N, -1), W, N


def _random_effects_ml(Y: np.ndarray, Xp: np.ndarray) -> tuple[np.ndarray, float]:
    """ML of y_it = x_it'beta + mu_i + v_it (balanced, no spatial term): residuals y - X beta and
    phi = sigma2_mu / sigma2_v, maximising the likelihood concentrated in phi (the GLS step by quasi-demeaning)."""
    T = Y.shape[0]

    def gls(log_phi: float) -> tuple[np.ndarray, float]:
        theta = 1 - 1 / np.sqrt(T * np.exp(log_phi) + 1)
        ys = (Y - theta * Y.mean(0)).ravel()
        Xs = (Xp - theta * Xp.mean(0)).reshape(-1, Xp.shape[2])
        beta = np.linalg.lstsq(Xs, ys, rcond=None)[0]
        return beta, float(np.sum((ys - Xs @ beta) ** 2))

    def nll(log_phi: float) -> float:
        n_units = Y.shape[1]
        return n_units / 2 * np.log(T * np.exp(log_phi) + 1) + Y.size / 2 * np.log(gls(log_phi)[1])

    opt = optimize.minimize_scalar(nll, bounds=(np.log(1e-8), np.log(1e9)), method="bounded",
                                   options={"xatol": 1e-12})
    beta = gls(opt.x)[0]
    return (Y - Xp @ beta), float(np.exp(opt.x))


def _spatial_error_ml(Y: np.ndarray, Xp: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, float]:
    """Pooled ML of y_t = X_t beta + u_t, u_t = lambda W u_t + e_t (one W for every period): residuals y - X beta
    and lambda, maximising the likelihood concentrated in lambda over the admissible interval."""
    T, N = Y.shape
    omega = np.linalg.eigvals(W)
    real = omega.real[np.abs(omega.imag) < 1e-10]
    lo, hi = 1 / real.min(), 1 / real.max()

    def gls(lam: float) -> tuple[np.ndarray, float]:
        B = np.eye(N) - lam * W
        ys = (Y @ B.T).ravel()
        Xs = np.einsum("ij,tjk->tik", B, Xp).reshape(T * N, -1)
        beta = np.linalg.lstsq(Xs, ys, rcond=None)[0]
        return beta, float(np.sum((ys - Xs @ beta) ** 2))

    def nll(lam: float) -> float:
        return Y.size / 2 * np.log(gls(lam)[1]) - T * float(np.sum(np.log(np.abs(1 - lam * omega))))

    eps = 1e-6 * (hi - lo)
    opt = optimize.minimize_scalar(nll, bounds=(lo + eps, hi - eps), method="bounded", options={"xatol": 1e-12})
    return Y - Xp @ gls(opt.x)[0], float(opt.x)


def bsk_conditional_tests(y: np.ndarray, X: np.ndarray, W: sp.spmatrix | sp.sparray, T: int) -> dict[str, Any]:
    """Baltagi, Song & Koh (2003) conditional LM tests, each from an ML fit under its null.

    - ``clm_lambda``: spatial error given random unit effects: the random-effects ML residuals ``u``,
      ``s_v2 = u'(E_T kron I)u / (N(T-1))``, ``s_12 = u'(Jbar_T kron I)u / N``,
      ``D = u'[(s_v2/s_12^2) Jbar_T kron (W+W') + (1/s_v2) E_T kron (W+W')]u / 2``,
      ``z = D / sqrt(((T-1) + s_v2^2/s_12^2) tr(W^2 + W'W))`` (two-sided normal).
    - ``clm_mu``: random unit effects given a spatial error: the pooled spatial-error ML residuals ``u`` and
      ``lambda``, ``B = I - lambda W``, ``z = sign(D_mu) sqrt(D_mu^2 NUM / DEN)``, BSK (2003) eq. (2.30)
      (one-sided, H1: sigma2_mu > 0).

    Parameters
    ----------
    y : numpy.ndarray
        Outcome, shape (N T,), period by period, each period's N rows in the order of ``W``.
    X : numpy.ndarray
        Regressors incl. the constant, shape (N T, k), same order.
    W : scipy.sparse matrix
        The N x N weights of every period.
    T : int
        Number of periods.

    Returns
    -------
    dict
        ``clm_lambda`` (``statistic``, ``p_value``, ``phi`` = sigma2_mu / sigma2_v of its null model) and
        ``clm_mu`` (``statistic``, ``p_value``, ``lambda`` of its null model).
    """
    Y, Xp, W, N = _panel_arrays(y, X, W, T)
    WsW = W + W.T
    b = float(np.trace(W @ W) + np.sum(W * W))
    # CLM lambda
    u, phi = _random_effects_ml(Y, Xp)
    ubar = u.mean(0)
    s_v2 = float(np.sum((u - ubar) ** 2)) / (N * (T - 1))
    s_12 = T * float(ubar @ ubar) / N
    Wu = u @ WsW.T  # (I_T kron (W+W')) u, period by period
    Wubar = Wu.mean(0)
    D = 0.5 * float(np.sum(u * (s_v2 / s_12**2 * Wubar + (Wu - Wubar) / s_v2)))
    z_lambda = D / np.sqrt(((T - 1) + s_v2**2 / s_12**2) * b)
    # CLM mu
    u, lam = _spatial_error_ml(Y, Xp, W)
    B = np.eye(N) - lam * W
    BB = B.T @ B
    BB2 = BB @ BB
    s2 = float(np.sum(u * (u @ BB))) / (N * T)
    usum = u.sum(0)
    d_mu = -T / (2 * s2) * np.trace(BB) + float(usum @ BB2 @ usum) / (2 * s2**2)
    G = (W.T @ B + B.T @ W) @ np.linalg.inv(BB)
    e_, d_, h_, g_, c_ = np.trace(BB2), np.trace(W.T @ B + B.T @ W), np.trace(BB), np.trace(G), np.trace(G @ G)
    num = 2 / T * (N * c_ - g_**2)  # sigma^8 cancels with DEN's sigma^4 and D_mu's 1/sigma^4 scale
    den = N * T * e_ * c_ - N * d_**2 - T * g_**2 * e_ + 2 * g_ * h_ * d_ - h_**2 * c_
    z_mu = np.sign(d_mu) * np.sqrt(d_mu**2 * s2**2 * num / den)
    return {
        "clm_lambda": {"statistic": float(z_lambda), "p_value": float(2 * stats.norm.sf(abs(z_lambda))), "phi": phi},
        "clm_mu": {"statistic": float(z_mu), "p_value": float(stats.norm.sf(z_mu)), "lambda": lam},
    }


def moran_residuals(ols: OLSParts, W: sp.spmatrix | sp.sparray) -> dict[str, float]:
    """Moran's I of OLS residuals with its exact mean and variance under normality.

    Uses E[I] = (n/S0) tr(MW)/(n-k) and
    Var[I] = (n/S0)^2 [tr(MWMW') + tr((MW)^2) + tr(MW)^2] / ((n-k)(n-k+2)) - E[I]^2,
    with M = I - X(X'X)^-1X' (Cliff & Ord 1981), as spreg and spdep's ``lm.morantest`` do.

    Parameters
    ----------
    ols : OLSParts
        The OLS fit.
    W : scipy.sparse matrix
        n x n spatial weights.

    Returns
    -------
    dict
        ``statistic`` (I), ``expectation``, ``variance``, ``z``, ``p_value`` (two-sided normal).
    """
    W = _csr(W)
    X, A = ols.X, ols.XtX_inv
    n, k = X.shape
    e = ols.resid
    s0 = float(W.sum())
    scale = n / s0
    moran_i = scale * float(e @ (W @ e)) / float(e @ e)
    WX = np.asarray(W @ X)
    WtX = np.asarray(W.T @ X)
    XWX = X.T @ WX  # X'WX
    tr_mw = W.diagonal().sum() - np.trace(A @ XWX)
    # tr(MWMW') = tr(WW') - tr(A X'WW'X) - tr(A X'W'WX) + tr(A X'WX A X'W'X)
    tr_mwmwt = (
        float(W.multiply(W).sum()) - np.trace(A @ (WtX.T @ WtX)) - np.trace(A @ (WX.T @ WX))
        + np.trace(A @ XWX @ A @ XWX.T)
    )
    # tr(MWMW) = tr(WW) - 2 tr(A X'WWX) + tr(A X'WX A X'WX)
    tr_mwmw = float(W.multiply(W.T).sum()) - 2 * np.trace(A @ (WtX.T @ WX)) + np.trace(A @ XWX @ A @ XWX)
    eI = scale * tr_mw / (n - k)
    vI = scale**2 * (tr_mwmwt + tr_mwmw + tr_mw**2) / ((n - k) * (n - k + 2)) - eI**2
    z = (moran_i - eI) / np.sqrt(vI)
    return {
        "statistic": float(moran_i), "expectation": float(eI), "variance": float(vI), "z": float(z),
        "p_value": float(2 * stats.norm.sf(abs(z))),
    }


def spatial_diagnostics(
    y: np.ndarray, X: np.ndarray, W: sp.spmatrix | sp.sparray
) -> dict[str, dict[str, float]]:
    """All residual diagnostics of the OLS fit of ``y`` on ``X``: the five LM tests and Moran's I.

    Parameters
    ----------
    y : numpy.ndarray
        Outcome, shape (n,).
    X : numpy.ndarray
        Regressors incl. any constant, shape (n, k).
    W : scipy.sparse matrix
        n x n spatial weights.

    Returns
    -------
    dict
        The :func:`lm_tests` entries plus ``moran_i`` (see :func:`moran_residuals`).
    """
    ols = OLSParts.fit(y, X)
    out = lm_tests(ols, W)
    out["moran_i"] = moran_residuals(ols, W)
    return out
