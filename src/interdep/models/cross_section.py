"""Cross-section (or pooled, stacked) estimators: thin wrappers around spreg, plus ML SAC.

Every function takes stacked arrays: ``y`` (n,), ``X`` (n, k) whose columns are named by ``names`` (a
constant column, if wanted, is named ``"const"``), a row-standardised ``scipy.sparse`` ``W`` (n x n;
block-diagonal over years for pooled data; islands are zero rows) and the ``channel`` name that labels the
spatial parameter (``rho_<channel>`` / ``lambda_<channel>``). Every function returns an
:class:`~interdep.models.result.Estimate`.

AIC convention (``Estimate.n_params_likelihood``): the number of regression coefficients plus spatial
parameters, sigma^2 not counted -- spreg's convention for OLS and ML_Lag, so that ``Estimate.aic`` equals
spreg's ``aic`` (spreg's ML_Error leaves lambda out; we count it).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import libpysal
import numpy as np
import scipy.sparse as sp
from spreg.ols import BaseOLS

from interdep.models.diagnostics import spatial_diagnostics
from interdep.models.result import Estimate

__all__ = ["fit_ols"]

T = TypeVar("T")


# --------------------------------------------------------------------------------------------- helpers
def _check_inputs(
    y: np.ndarray, X: np.ndarray, names: Sequence[str], W: sp.spmatrix | sp.sparray | None = None
) -> tuple[np.ndarray, np.ndarray, list[str], sp.csr_matrix | None]:
    """Validate shapes and finiteness; return y as (n,), X as (n, k) float arrays, names, W as CSR."""
    y = np.asarray(y, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X must be (n, k) with n = len(y) = {y.shape[0]}, got shape {X.shape}")
    names = list(names)
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names for {X.shape[1]} columns of X")
    if not (np.isfinite(y).all() and np.isfinite(X).all()):
        raise ValueError("y and X must be finite (no NaN or inf)")
    if W is not None:
        W = sp.csr_matrix(W, dtype=float)
        if W.shape != (y.shape[0], y.shape[0]):
            raise ValueError(f"W must be {y.shape[0]} x {y.shape[0]}, got {W.shape}")
        if np.any(W.diagonal() != 0):
            raise ValueError("W must have a zero diagonal (no self links)")
    return y, X, names, W


def _pysal_w(W: sp.csr_matrix) -> libpysal.weights.W:
    """The libpysal ``W`` that spreg needs, built from the sparse matrix (islands stay empty rows)."""
    return libpysal.weights.WSP(W).to_W(silence_warnings=True)


def _quiet(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` with stdout swallowed (spreg 1.9.0 prints the class name of non-OLS fits)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _gaussian_loglik(ssr: float, n: int) -> float:
    """Concentrated Gaussian log-likelihood at sigma^2 = ssr / n."""
    return float(-n / 2 * (np.log(2 * np.pi) + np.log(ssr / n) + 1))


# --------------------------------------------------------------------------------------------- OLS
def fit_ols(
    y: np.ndarray,
    X: np.ndarray,
    names: Sequence[str],
    W: sp.spmatrix | sp.sparray | None = None,
    channel: str | None = None,
) -> Estimate:
    """OLS (spreg ``BaseOLS``) with t inference and, given ``W``, spatial diagnostics of the residuals.

    Parameters
    ----------
    y : numpy.ndarray
        Outcome, shape (n,) or (n, 1).
    X : numpy.ndarray
        Regressors, shape (n, k), including a ``"const"`` column if wanted.
    names : sequence of str
        Names of the k columns of ``X``.
    W : scipy.sparse matrix, optional
        n x n spatial weights; if given, ``diagnostics`` holds the LM tests and Moran's I.
    channel : str, optional
        Name of the weights channel, recorded in ``diagnostics["channel"]``.

    Returns
    -------
    Estimate
        ``estimator="ols"``, ``sigma2 = e'e/(n-k)``, ``df_resid = n-k``, Gaussian log-likelihood,
        ``n_params_likelihood = k``. ``diagnostics`` (with W): ``lm_error``, ``lm_lag``,
        ``robust_lm_error``, ``robust_lm_lag``, ``sarma`` (each ``statistic``, ``df``, ``p_value``) and
        ``moran_i`` (``statistic``, ``expectation``, ``variance``, ``z``, ``p_value``); see
        :mod:`interdep.models.diagnostics`.
    """
    y, X, names, W = _check_inputs(y, X, names, W)
    n, k = X.shape
    ols = BaseOLS(y=y[:, None], x=X, sig2n_k=True)
    diagnostics: dict[str, Any] = {}
    if W is not None:
        diagnostics = {"channel": channel, **spatial_diagnostics(y, X, W)}
    return Estimate(
        estimator="ols",
        terms=names,
        params=ols.betas.ravel(),
        cov=np.asarray(ols.vm),
        sigma2=float(ols.sig2),
        n_obs=n,
        log_likelihood=_gaussian_loglik(float(ols.utu), n),
        n_params_likelihood=k,
        df_resid=n - k,
        diagnostics=diagnostics,
    )
