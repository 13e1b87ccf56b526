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
import hashlib
import io
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import libpysal
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize, stats
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu
from spreg.error_sp_het import BaseGM_Endog_Error_Het
from spreg.error_sp_hom import BaseGM_Endog_Error_Hom
from spreg.ml_error import BaseML_Error
from spreg.ml_lag import BaseML_Lag
from spreg.ols import BaseOLS
from spreg.twosls import BaseTSLS

from interdep.models.diagnostics import spatial_diagnostics
from interdep.models.result import IMPACT_COLUMNS, Estimate

__all__ = ["fit_ols", "fit_sar_gmm", "fit_sar_ml_spreg", "fit_sac_gmm", "fit_sac_ml", "fit_sem_ml", "fit_slx"]

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
        W = sp.csr_matrix(W, dtype=float, copy=True)
        W.eliminate_zeros()  # explicit zeros would count as links (components, islands)
        if W.shape != (y.shape[0], y.shape[0]):
            raise ValueError(f"W must be {y.shape[0]} x {y.shape[0]}, got {W.shape}")
        if np.any(W.diagonal() != 0):
            raise ValueError("W must have a zero diagonal (no self links)")
    return y, X, names, W


def _pysal_w(W: sp.csr_matrix) -> libpysal.weights.W:
    """The libpysal ``W`` that spreg needs, built from the sparse matrix (islands stay empty rows)."""
    return libpysal.weights.WSP(W).to_W(silence_warnings=True)


def _quiet(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` with stdout swallowed (spreg 1.9.0 prints the class name of non-OLS fits) and without
    the format and tolerance warnings spreg's internals trigger in scipy (CSR->CSC conversions, bounded
    ``minimize_scalar`` ignoring ``xatol``), which say nothing about the fit."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", sp.SparseEfficiencyWarning)
        warnings.filterwarnings("ignore", message="Method 'bounded' does not support relative tolerance")
        return fn(*args, **kwargs)


def _need_channel(channel: str | None) -> str:
    if not channel:
        raise ValueError("a spatial model needs the channel name (labels rho_<channel> / lambda_<channel>)")
    return channel


def _lag_columns(names: Sequence[str]) -> list[int]:
    """Indices of the columns that get a spatial lag: all but the one named ``const``."""
    return [j for j, nm in enumerate(names) if nm != "const"]


def _instruments(X: np.ndarray, names: Sequence[str], W: sp.csr_matrix, w_lags: int) -> np.ndarray:
    """Spatial instruments [WX, W^2X, ..., W^w_lags X] of the non-constant columns (as spreg's ``get_lags``)."""
    if w_lags < 1:
        raise ValueError(f"w_lags must be >= 1, got {w_lags}")
    Z = X[:, _lag_columns(names)]
    out = []
    for _ in range(w_lags):
        Z = np.asarray(W @ Z)
        out.append(Z)
    return np.hstack(out)


def _at_bound(value: float, bound: float = 1.0, tol: float = 1e-4) -> bool:
    return abs(abs(value) - bound) < tol


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


# --------------------------------------------------------------------------------------------- SLX
def fit_slx(
    y: np.ndarray, X: np.ndarray, names: Sequence[str], W: sp.spmatrix | sp.sparray, channel: str
) -> Estimate:
    """SLX: OLS of ``y`` on ``[X, WX]``, with impacts direct = beta, indirect = theta, total = beta + theta.

    Parameters
    ----------
    y, X, names
        As for :func:`fit_ols`; every column but ``"const"`` is lagged.
    W : scipy.sparse matrix
        n x n spatial weights.
    channel : str
        Weights channel; the lagged columns are named ``W_<channel>_<name>``.

    Returns
    -------
    Estimate
        ``estimator="slx"``, t inference (``df_resid``); ``impacts`` with t-based standard errors and intervals,
        the total's variance ``var(beta) + var(theta) + 2 cov(beta, theta)``; ``diagnostics`` hold the LM tests
        and Moran's I of the SLX residuals.
    """
    channel = _need_channel(channel)
    y, X, names, W = _check_inputs(y, X, names, W)
    lag = _lag_columns(names)
    WX = np.asarray(W @ X[:, lag])
    lag_names = [f"W_{channel}_{names[j]}" for j in lag]
    est = fit_ols(y, np.hstack([X, WX]), names + lag_names, W, channel)
    est.estimator = "slx"
    k = X.shape[1]
    rows = []
    q = stats.t(est.df_resid).ppf(0.975)
    for i, j in enumerate(lag):
        b, t = j, k + i
        for effect, grad in (("direct", {b: 1.0}), ("indirect", {t: 1.0}), ("total", {b: 1.0, t: 1.0})):
            g = np.zeros(len(est.params))
            for idx, val in grad.items():
                g[idx] = val
            value, se = float(g @ est.params), float(np.sqrt(g @ est.cov @ g))
            rows.append((names[j], channel, effect, value, se, value - q * se, value + q * se))
    est.impacts = pd.DataFrame(rows, columns=IMPACT_COLUMNS)
    return est


# --------------------------------------------------------------------------------------------- ML (spreg)
def fit_sem_ml(
    y: np.ndarray, X: np.ndarray, names: Sequence[str], W: sp.spmatrix | sp.sparray, channel: str
) -> Estimate:
    """Spatial error model by maximum likelihood (spreg ``ML_Error``, method ``"LU"``).

    ``LU`` (sparse LU log-determinant) reproduces the published Columbus lambda, its standard error and the
    log-likelihood (as ``"full"`` does, at dense cost); ``"ord"`` gives a wrong lambda standard error for W
    similar to a symmetric matrix. spreg searches lambda in (-1, 1); a value at that bound is reported as
    not converged.

    Parameters
    ----------
    y, X, names
        As for :func:`fit_ols`.
    W : scipy.sparse matrix
        n x n row-standardised spatial weights.
    channel : str
        Weights channel; the error parameter is ``lambda_<channel>``.

    Returns
    -------
    Estimate
        ``estimator="sem_ml"``, terms ``names + [lambda_<channel>]``, asymptotic (z) inference,
        ``sigma2`` the ML residual variance, ``n_params_likelihood = k + 1``.
    """
    channel = _need_channel(channel)
    y, X, names, W = _check_inputs(y, X, names, W)
    m = _quiet(BaseML_Error, y[:, None], X, _pysal_w(W), method="LU")
    return _spreg_ml_estimate(m, "sem_ml", names, f"lambda_{channel}", float(m.lam), len(y))


def fit_sar_ml_spreg(
    y: np.ndarray,
    X: np.ndarray,
    names: Sequence[str],
    W: sp.spmatrix | sp.sparray,
    channel: str,
    durbin: bool = False,
) -> Estimate:
    """Spatial lag (or, with ``durbin``, spatial Durbin) model by ML via spreg ``ML_Lag``, method ``"LU"``.

    A cross-check for our own ML engine (tests, benchmarks), not the pipeline's estimator: spreg is slow on
    stacked panels, searches rho in (-1, 1) whatever W is, and (1.9.0) splits SDM impacts wrongly, so no
    impacts are returned here. Method ``"ord"`` would give wrong standard errors (README).

    Parameters
    ----------
    y, X, names
        As for :func:`fit_ols`.
    W : scipy.sparse matrix
        n x n row-standardised spatial weights.
    channel : str
        Weights channel; the lag parameter is ``rho_<channel>``.
    durbin : bool, default False
        Add ``WX`` of the non-constant columns (named ``W_<channel>_<name>``).

    Returns
    -------
    Estimate
        ``estimator="sar_ml"`` (``"sdm_ml"`` with ``durbin``), terms ``names [+ W_ names] + [rho_<channel>]``,
        z inference, ``n_params_likelihood`` = coefficients + 1 (spreg's AIC).
    """
    channel = _need_channel(channel)
    y, X, names, W = _check_inputs(y, X, names, W)
    if durbin:
        lag = _lag_columns(names)
        X = np.hstack([X, np.asarray(W @ X[:, lag])])
        names = names + [f"W_{channel}_{names[j]}" for j in lag]
    m = _quiet(BaseML_Lag, y[:, None], X, _pysal_w(W), method="LU")
    return _spreg_ml_estimate(m, "sdm_ml" if durbin else "sar_ml", names, f"rho_{channel}", float(m.rho), len(y))


def _spreg_ml_estimate(m: Any, estimator: str, names: list[str], spatial_term: str, spatial: float,
                       n: int) -> Estimate:
    """An :class:`Estimate` from a fitted spreg ML model (betas, then the spatial parameter last)."""
    at_bound = _at_bound(spatial)
    return Estimate(
        estimator=estimator,
        terms=names + [spatial_term],
        params=m.betas.ravel(),
        cov=np.asarray(m.vm),
        sigma2=float(np.squeeze(m.sig2)),
        n_obs=n,
        log_likelihood=float(np.squeeze(m.logll)),
        n_params_likelihood=len(names) + 1,
        converged=not at_bound,
        message=f"{spatial_term.split('_')[0]} at spreg's search bound (-1, 1)" if at_bound else "",
    )


# --------------------------------------------------------------------------------------------- GMM (spreg)
def fit_sar_gmm(
    y: np.ndarray,
    X: np.ndarray,
    names: Sequence[str],
    W: sp.spmatrix | sp.sparray | Sequence[sp.spmatrix | sp.sparray],
    channel: str | Sequence[str],
    w_lags: int = 1,
    robust: Literal["white"] | None = "white",
) -> Estimate:
    """Spatial lag model by spatial two-stage least squares (spreg ``GM_Lag``'s engine, ``BaseTSLS``).

    Wy is instrumented by ``WX`` (``w_lags=1``) or ``WX, W^2X`` (``w_lags=2``) of the non-constant columns,
    exactly as spreg ``GM_Lag`` does; the constant need not be the first column. With several channels
    (``W`` and ``channel`` sequences), each ``W_c y`` is endogenous and the instruments are the union of each
    channel's ``W_c X`` (and ``W_c^2 X``): y = sum_c rho_c W_c y + X beta + e, one rho per channel.

    Parameters
    ----------
    y, X, names
        As for :func:`fit_ols`.
    W : scipy.sparse matrix, or a sequence of them
        n x n spatial weights, one per channel.
    channel : str, or a sequence of str
        Weights channel(s); the lag parameters are ``rho_<channel>``.
    w_lags : int, default 1
        Orders of W applied to X to form the instruments.
    robust : {"white", None}, default "white"
        ``"white"``: heteroskedasticity-robust (White) covariance; ``None``: classic, sigma^2 = e'e/n.

    Returns
    -------
    Estimate
        ``estimator="sar_gmm"``, terms ``names + [rho_<channel>, ...]``, z inference, ``log_likelihood=None``.
    """
    several = not isinstance(channel, str)
    channels = [_need_channel(c) for c in (channel if several else [channel])]
    matrices = list(W) if several else [W]
    if len(matrices) != len(channels):
        raise ValueError(f"{len(matrices)} weights matrices for {len(channels)} channels")
    if robust not in ("white", None):
        raise ValueError(f"robust must be 'white' or None, got {robust!r}")
    checked = [_check_inputs(y, X, names, w) for w in matrices]
    y, X, names = checked[0][:3]
    matrices = [c[3] for c in checked]
    yend = np.column_stack([np.asarray(w @ y) for w in matrices])
    q = np.hstack([_instruments(X, names, w, w_lags) for w in matrices])
    m = _quiet(BaseTSLS, y[:, None], X, yend=yend, q=q, robust=robust, sig2n_k=False)
    return Estimate(
        estimator="sar_gmm",
        terms=names + [f"rho_{c}" for c in channels],
        params=m.betas.ravel(),
        cov=np.asarray(m.vm),
        sigma2=float(np.squeeze(m.sig2)),
        n_obs=len(y),
        message=f"S2SLS, instruments W^1..W^{w_lags} X of each channel, covariance {robust or 'classic'}",
    )


def fit_sac_gmm(
    y: np.ndarray,
    X: np.ndarray,
    names: Sequence[str],
    W: sp.spmatrix | sp.sparray,
    channel: str,
    w_lags: int = 1,
    robust: Literal["white"] | None = "white",
) -> Estimate:
    """SAC (spatial lag and spatial error, same W) by GS2SLS: spreg ``GM_Combo_Het`` (Arraiz et al. 2010)
    with ``robust="white"``, ``GM_Combo_Hom`` (Drukker et al. 2013) with ``robust=None``.

    Parameters
    ----------
    y, X, names
        As for :func:`fit_ols`.
    W : scipy.sparse matrix
        n x n spatial weights (used for both the lag and the error).
    channel : str
        Weights channel; the parameters are ``rho_<channel>`` and ``lambda_<channel>``.
    w_lags : int, default 1
        Orders of W applied to X to form the instruments of Wy.
    robust : {"white", None}, default "white"
        Heteroskedasticity-robust (``"white"``) or homoskedastic (``None``) GMM.

    Returns
    -------
    Estimate
        ``estimator="sac_gmm"``, terms ``names + [rho_<channel>, lambda_<channel>]``, z inference,
        ``log_likelihood=None``.
    """
    channel = _need_channel(channel)
    if robust not in ("white", None):
        raise ValueError(f"robust must be 'white' or None, got {robust!r}")
    y, X, names, W = _check_inputs(y, X, names, W)
    base = BaseGM_Endog_Error_Het if robust == "white" else BaseGM_Endog_Error_Hom
    m = _quiet(base, y[:, None], X, yend=np.asarray(W @ y)[:, None], q=_instruments(X, names, W, w_lags), w=W)
    return Estimate(
        estimator="sac_gmm",
        terms=names + [f"rho_{channel}", f"lambda_{channel}"],
        params=m.betas.ravel(),
        cov=np.asarray(m.vm),
        sigma2=float(np.squeeze(m.sig2)) if hasattr(m, "sig2") else float(np.mean(m.e_filtered**2)),
        n_obs=len(y),
        message=f"GS2SLS ({'heteroskedastic' if robust else 'homoskedastic'}), instruments W^1..W^{w_lags} X",
    )


# --------------------------------------------------------------------------------------------- ML SAC (ours)
def _symmetric_form(Wc: sp.csr_matrix) -> np.ndarray | None:
    """A symmetric S = D Wc D^-1 (D positive diagonal) if one exists, else None.

    Such a D exists for a row-standardised symmetric graph (and any W with symmetric pattern whose ratios
    W_ji / W_ij are consistent around every cycle); then Wc has the real eigenvalues of S, which the
    symmetric solver finds faster and more accurately. D follows a breadth-first tree from node 0:
    log d_i = log d_p + (log W_pi - log W_ip) / 2; every edge is then checked.
    """
    pattern = (Wc != 0).astype(np.int8)
    if Wc.data.size == 0 or np.any(Wc.data < 0) or (pattern != pattern.T).nnz:
        return None
    order, pred = breadth_first_order(Wc, 0, directed=False)
    if len(order) != Wc.shape[0]:
        return None
    dense = Wc.toarray()
    logd = np.zeros(Wc.shape[0])
    for i in order[1:]:
        p = pred[i]
        logd[i] = logd[p] + 0.5 * (np.log(dense[p, i]) - np.log(dense[i, p]))  # both > 0: same pattern
    d = np.exp(logd - logd.mean())
    S = d[:, None] * dense / d[None, :]
    if np.max(np.abs(S - S.T)) > 1e-12 * np.max(np.abs(S)):
        return None
    return (S + S.T) / 2


class _LogDet:
    """log|I - r W| and its first two derivatives in r.

    Exact from the eigenvalues of each weakly connected component of W (cheap for block-diagonal, stacked W;
    islands contribute eigenvalue 0). If a component has more than ``max_dense`` nodes, falls back to a sparse
    LU of I - rW with finite-difference derivatives, and to the search interval (-1, 1).
    """

    def __init__(self, W: sp.csr_matrix, max_dense: int = 3000) -> None:
        self.W = W
        n_comp, labels = connected_components(W, directed=True, connection="weak")
        sizes = np.bincount(labels, minlength=n_comp)
        self.eig: np.ndarray | None = None
        # index sets of the components with links (islands: W block is 0); None if one is too large
        self.components: list[np.ndarray] | None = None
        if sizes.max() <= max_dense:
            self.components = [np.flatnonzero(labels == c) for c in np.flatnonzero(sizes > 1)]
            parts = [np.zeros(int((sizes == 1).sum()))]
            cache: dict[bytes, np.ndarray] = {}  # identical blocks (a fixed W repeated over years) once
            for idx in self.components:
                Wc = sp.csr_matrix(W[idx][:, idx])
                key = hashlib.sha1(b"".join(a.tobytes() for a in (Wc.indptr, Wc.indices, Wc.data))).digest()
                if key not in cache:
                    S = _symmetric_form(Wc)
                    cache[key] = np.linalg.eigvals(Wc.toarray()) if S is None else np.linalg.eigvalsh(S)
                parts.append(cache[key])
            self.eig = np.concatenate(parts)

    def bounds(self) -> tuple[float, float]:
        """The admissible interval (1/lambda_min, 1/lambda_max) over the real eigenvalues."""
        if self.eig is None:
            return -1.0, 1.0
        real = self.eig[np.abs(self.eig.imag) < 1e-10].real
        lo, hi = real.min(), real.max()
        return (1 / lo if lo < 0 else -np.inf), (1 / hi if hi > 0 else np.inf)

    def __call__(self, r: float) -> float:
        if self.eig is not None:
            return float(np.sum(np.log(np.abs(1 - r * self.eig))))
        lu = splu(sp.csc_matrix(sp.identity(self.W.shape[0]) - r * self.W))
        return float(np.sum(np.log(np.abs(lu.U.diagonal()))))

    def d1(self, r: float) -> float:
        if self.eig is not None:
            return float(np.real(np.sum(-self.eig / (1 - r * self.eig))))
        h = 1e-5
        return (self(r + h) - self(r - h)) / (2 * h)

    def d2(self, r: float) -> float:
        if self.eig is not None:
            return float(np.real(np.sum(-(self.eig**2) / (1 - r * self.eig) ** 2)))
        h = 1e-4
        return (self(r + h) - 2 * self(r) + self(r - h)) / h**2


class _SACProfile:
    """The SAC log-likelihood concentrated in (rho, lambda), with its gradient, and the full Hessian."""

    def __init__(self, y: np.ndarray, X: np.ndarray, W: sp.csr_matrix) -> None:
        self.y, self.X, self.W = y, X, W
        self.Wy = np.asarray(W @ y)
        self.WX = np.asarray(W @ X)
        self.WWy = np.asarray(W @ self.Wy)
        self.logdet = _LogDet(W)
        self.n = len(y)

    def parts(self, rho: float, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """beta(rho, lambda), u = Ay - X beta, e = B u and sigma^2 = e'e/n."""
        ay = self.y - rho * self.Wy
        bay = ay - lam * (self.Wy - rho * self.WWy)
        bx = self.X - lam * self.WX
        beta = np.linalg.lstsq(bx, bay, rcond=None)[0]
        u = ay - self.X @ beta
        e = bay - bx @ beta
        return beta, u, e, float(e @ e) / self.n

    def negloglik(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Minus the concentrated log-likelihood and its gradient (envelope theorem for beta, sigma^2)."""
        rho, lam = theta
        _, u, e, s2 = self.parts(rho, lam)
        ll = -self.n / 2 * (np.log(2 * np.pi * s2) + 1) + self.logdet(rho) + self.logdet(lam)
        bwy = self.Wy - lam * self.WWy
        g_rho = float(bwy @ e) / s2 + self.logdet.d1(rho)
        g_lam = float(np.asarray(self.W @ u) @ e) / s2 + self.logdet.d1(lam)
        return -ll, -np.array([g_rho, g_lam])

    def information(self, rho: float, lam: float) -> np.ndarray:
        """Expected information in (beta, rho, lambda, sigma^2) (Anselin 1988, as R's ``sacsarlm``).

        Traces and the vector B W A^-1 X beta are computed per connected component of W (dense inverses of each
        block), so the cost is that of the largest component, not of n.
        """
        beta, _, _, s2 = self.parts(rho, lam)
        assert self.logdet.components is not None
        n, k = self.n, len(beta)
        xb = self.X @ beta
        bwaxb = np.zeros(n)
        t_waa = t_bwab = t_wbwb = t_wbtwb = t_wa = t_wb = t_rl1 = t_rl2 = 0.0
        for idx in self.logdet.components:
            Wc = self.W[idx][:, idx].toarray()
            eye = np.eye(len(idx))
            Bc = eye - lam * Wc
            WA = Wc @ np.linalg.inv(eye - rho * Wc)
            BI = np.linalg.inv(Bc)
            WB = Wc @ BI
            BWABI = Bc @ WA @ BI
            bwaxb[idx] = Bc @ (WA @ xb[idx])
            t_waa += np.sum(WA * WA.T)  # tr(WA WA)
            t_bwab += np.sum(BWABI * BWABI)  # tr(BWABI' BWABI)
            t_wbwb += np.sum(WB * WB.T)
            t_wbtwb += np.sum(WB * WB)
            t_wa += np.trace(WA)
            t_wb += np.trace(WB)
            t_rl1 += np.sum(WB * BWABI)  # tr(WB' BWABI)
            t_rl2 += np.sum((Wc @ WA) * BI.T)  # tr(W WA BI)
        bx = self.X - lam * self.WX
        info = np.zeros((k + 3, k + 3))
        info[:k, :k] = bx.T @ bx / s2
        info[:k, k] = bx.T @ bwaxb / s2
        info[k, k] = t_waa + t_bwab + bwaxb @ bwaxb / s2
        info[k, k + 1] = t_rl1 + t_rl2
        info[k, k + 2] = t_wa / s2
        info[k + 1, k + 1] = t_wbwb + t_wbtwb
        info[k + 1, k + 2] = t_wb / s2
        info[k + 2, k + 2] = n / (2 * s2**2)
        return np.triu(info) + np.triu(info, 1).T

    def hessian(self, rho: float, lam: float) -> np.ndarray:
        """Analytic Hessian of the full log-likelihood in (beta, rho, lambda, sigma^2) at the profile optimum."""
        beta, u, e, s2 = self.parts(rho, lam)
        W, n = self.W, self.n
        bx = self.X - lam * self.WX
        bwy = self.Wy - lam * self.WWy
        wu = np.asarray(W @ u)
        c = np.asarray(W.T @ e) + wu - lam * np.asarray(W.T @ wu)  # (W'B + B'W) u = W'e + B'Wu
        k = len(beta)
        H = np.zeros((k + 3, k + 3))
        H[:k, :k] = -bx.T @ bx / s2
        H[:k, k] = -bx.T @ bwy / s2
        H[:k, k + 1] = -self.X.T @ c / s2
        H[:k, k + 2] = -bx.T @ e / s2**2
        H[k, k] = -bwy @ bwy / s2 + self.logdet.d2(rho)
        H[k, k + 1] = -self.Wy @ c / s2
        H[k, k + 2] = -bwy @ e / s2**2
        H[k + 1, k + 1] = -wu @ wu / s2 + self.logdet.d2(lam)
        H[k + 1, k + 2] = -wu @ e / s2**2
        H[k + 2, k + 2] = n / (2 * s2**2) - float(e @ e) / s2**3
        return np.triu(H) + np.triu(H, 1).T


def fit_sac_ml(
    y: np.ndarray,
    X: np.ndarray,
    names: Sequence[str],
    W: sp.spmatrix | sp.sparray,
    channel: str,
    start: tuple[float, float] | None = None,
    cov_type: Literal["expected", "observed"] = "expected",
) -> Estimate:
    """SAC (spatial lag and spatial error with the same W) by maximum likelihood (spreg 1.9 has none).

    Maximises the log-likelihood concentrated in (rho, lambda) with L-BFGS-B and an analytic gradient over
    the admissible interval (1/lambda_min, 1/lambda_max) of W; log-determinants exact from the eigenvalues of
    W's connected components. The covariance is the inverse of the expected information (Anselin 1988; as R
    spatialreg's ``sacsarlm`` with ``method="eigen"``) or of minus the analytic observed Hessian of the full
    log-likelihood in (beta, rho, lambda, sigma^2). If a component of W is too large for dense algebra
    (> 3000 nodes), the observed Hessian is used whatever ``cov_type`` says (noted in ``message``).

    Parameters
    ----------
    y, X, names
        As for :func:`fit_ols`.
    W : scipy.sparse matrix
        n x n spatial weights.
    channel : str
        Weights channel; parameters ``rho_<channel>``, ``lambda_<channel>``.
    start : (float, float), optional
        Starting (rho, lambda); default the homoskedastic GS2SLS estimate, clipped into the interval.
    cov_type : {"expected", "observed"}, default "expected"
        Information matrix behind the covariance.

    Returns
    -------
    Estimate
        ``estimator="sac_ml"``, terms ``names + [rho_<channel>, lambda_<channel>]``, z inference,
        ``n_params_likelihood = k + 2``; ``converged`` from the optimiser (and not at a bound).
    """
    channel = _need_channel(channel)
    y, X, names, W = _check_inputs(y, X, names, W)
    prof = _SACProfile(y, X, W)
    lo, hi = prof.logdet.bounds()
    eps = 1e-6
    box = [(lo + eps if np.isfinite(lo) else None, hi - eps if np.isfinite(hi) else None)] * 2
    if start is None:
        try:
            g = fit_sac_gmm(y, X, names, W, channel, robust=None).params[-2:]
            start = tuple(float(np.clip(v, lo + 0.01, hi - 0.01)) for v in g)
        except (np.linalg.LinAlgError, ValueError):
            start = (0.0, 0.0)
    res = optimize.minimize(prof.negloglik, np.asarray(start, float), jac=True, method="L-BFGS-B",
                            bounds=box, options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 500})
    rho, lam = (float(v) for v in res.x)
    beta, _, _, s2 = prof.parts(rho, lam)
    k = X.shape[1]
    if cov_type not in ("expected", "observed"):
        raise ValueError(f"cov_type must be 'expected' or 'observed', got {cov_type!r}")
    note = ""
    if cov_type == "expected" and prof.logdet.components is None:
        cov_type, note = "observed", "covariance from the observed Hessian (a component of W is too large); "
    info = prof.information(rho, lam) if cov_type == "expected" else -prof.hessian(rho, lam)
    with np.errstate(all="ignore"):
        cov_full = np.linalg.inv(info)
    at_bound = any(b is not None and abs(v - b) < 10 * eps for v in (rho, lam) for b in box[0])
    return Estimate(
        estimator="sac_ml",
        terms=names + [f"rho_{channel}", f"lambda_{channel}"],
        params=np.concatenate([beta, [rho, lam]]),
        cov=cov_full[: k + 2, : k + 2],
        sigma2=s2,
        n_obs=len(y),
        log_likelihood=-float(res.fun),
        n_params_likelihood=k + 2,
        converged=bool(res.success) and not at_bound,
        message=("rho or lambda at the bound of the admissible interval; " if at_bound else "") + note
        + str(res.message),
        diagnostics={"cov_type": cov_type, "bounds": [lo, hi]},
    )
