"""Spatial diagnostics of OLS residuals: Lagrange multiplier tests and Moran's I.

Computed directly from ``y``, ``X``, the OLS coefficients and a sparse ``W`` (Anselin 1988; Anselin, Bera,
Florax & Yoon 1996; Cliff & Ord 1981). Every trace is reduced to sparse products and k x k matrices, so the
functions never form an n x n dense matrix and work for stacked, block-diagonal W of any size. Islands (zero
rows of ``W``) need no special treatment. Validated against spreg 1.9.0 and the published Columbus values
(tests/test_models_cross_section.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

__all__ = ["OLSParts", "lm_tests", "moran_residuals", "spatial_diagnostics"]


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
    u_err = float(e @ (W @ e)) / s2
    u_lag = float(e @ (W @ ols.y)) / s2
    return {
        "lm_error": _chi2(u_err**2 / T, 1),
        "lm_lag": _chi2(u_lag**2 / D, 1),
        "robust_lm_error": _chi2((u_err - T / D * u_lag) ** 2 / (T * (1 - T / D)), 1),
        "robust_lm_lag": _chi2((u_lag - u_err) ** 2 / (D - T), 1),
        "sarma": _chi2((u_lag - u_err) ** 2 / (D - T) + u_err**2 / T, 2),
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
