"""Direct, indirect and total impacts of SAR / SDM panels, with simulated (LeSage & Pace 2009) inference.

For regressor ``x`` with coefficient ``beta`` and spatial-lag coefficients ``theta_c`` (SDM), the impact matrix of
year ``t`` is ``S_t = A_t^-1 (beta I + sum_c theta_c W_ct)`` with ``A_t = I - sum_c rho_c W_ct``. The direct
impact is the mean diagonal element of ``S_t``, the total the mean row sum, the indirect their difference; years
are pooled with weights ``n_t`` (i.e. the mean over all state-years). Everything is exact and per year:

* one channel: from each distinct year's eigen-decomposition ``W_t = V diag(lam) V^-1``,
  ``tr(A^-1) = sum 1/(1 - rho lam)``, ``tr(A^-1 W) = sum lam/(1 - rho lam)``,
  ``1'A^-1 v = sum_i (1'V)_i (V^-1 v)_i / (1 - rho lam_i)``; so 1,000 draws cost a few matrix products;
* several channels: from ``A_t^-1`` per distinct year and draw (batched dense inverses).

In a multi-channel model the rows with ``channel = "all"`` give the effects of the whole system; rows with a
channel name and ``effect = "indirect"`` split the indirect effect additively by the channel of the first
spillover step: ``S = beta I + sum_c C_c``, ``C_c = theta_c W_c + rho_c A^-1 W_c B`` with
``B = beta I + sum_d theta_d W_d``; channel ``c``'s indirect part is the mean off-diagonal row sum of ``C_c``.

spreg 1.9.0 attributes all of ``theta`` to the indirect effect of an SDM; here ``tr(A^-1 W)`` enters the direct
effect as it should.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from interdep.models.design import Design
from interdep.models.panel_ml import _spectra, matrix_key, rho_bounds, single_thread_blas
from interdep.models.result import IMPACT_COLUMNS, Estimate

__all__ = ["linear_impacts", "spatial_impacts"]

_CHUNK = 100


@dataclass
class _Layout:
    """Where each regressor's beta, theta_c and each rho_c sit in the parameter vector."""

    regressors: list[str]
    channels: list[str]
    beta: list[int]
    theta: list[list[int | None]]  # [regressor][channel]
    rho: list[int]


def _layout(estimate: Estimate, design: Design) -> _Layout:
    terms = estimate.terms
    theta = [[terms.index(f"W_{c}_{x}") if f"W_{c}_{x}" in terms else None for c in design.channels]
             for x in design.regressors]
    return _Layout(
        regressors=list(design.regressors),
        channels=list(design.channels),
        beta=[terms.index(x) for x in design.regressors],
        theta=theta,
        rho=[terms.index(f"rho_{c}") for c in design.channels],
    )


def _split(params: np.ndarray, lay: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From parameter draws (D, p) to beta (D, K), theta (D, K, C), rho (D, C)."""
    beta = params[:, lay.beta]
    theta = np.zeros((params.shape[0], len(lay.regressors), len(lay.channels)))
    for k, row in enumerate(lay.theta):
        for c, idx in enumerate(row):
            if idx is not None:
                theta[:, k, c] = params[:, idx]
    return beta, theta, params[:, lay.rho]


# ------------------------------------------------------------------------------------------- one channel


def _eig_terms(design: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Concatenated eigenvalues and the weight vectors of the trace / row-sum formulas (None if defective)."""
    ch = design.channels[0]
    spectra = _spectra(design, ch, vectors=True)
    seen: dict[str, int] = {}
    parts: list[tuple] = []
    for w, s in zip(design.weights[ch], spectra, strict=True):
        if s.V is None:
            return None
        key = matrix_key(w)
        if key in seen:
            parts[seen[key]][4] += 1
            continue
        ones = np.ones(w.shape[0])
        left = ones @ s.V
        a = left * (s.Vinv @ ones)
        b = left * (s.Vinv @ (w @ ones))
        seen[key] = len(parts)
        parts.append([s.lam, a, b, None, 1])
    lam = np.concatenate([p[0] for p in parts])
    mult = np.concatenate([np.full(len(p[0]), p[4], dtype=float) for p in parts])
    a = np.concatenate([p[1] for p in parts])
    b = np.concatenate([p[2] for p in parts])
    return lam, mult, a, b


def _one_channel(eig: tuple, n: int, beta: np.ndarray, theta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Direct, total and indirect (D, K, 3) for one channel from eigenvalue sums."""
    lam, mult, a, b = eig
    out = np.empty((len(rho), beta.shape[1], 3))
    for s in range(0, len(rho), _CHUNK * 10):
        r = rho[s:s + _CHUNK * 10, 0]
        inv = 1.0 / (1.0 - r[:, None] * lam[None, :])
        coef = np.real(inv @ np.column_stack([mult, lam * mult, a * mult, b * mult])) / n  # (d, 4)
        bt, th = beta[s:s + len(r)], theta[s:s + len(r), :, 0]
        direct = bt * coef[:, [0]] + th * coef[:, [1]]
        total = bt * coef[:, [2]] + th * coef[:, [3]]
        out[s:s + len(r)] = np.stack([direct, total - direct, total], axis=-1)
    return out


# ------------------------------------------------------------------------------------------- several channels


def _groups(design: Design) -> list[tuple[list[np.ndarray], int]]:
    groups: dict[str, list] = {}
    for t in range(design.n_periods):
        mats = [design.weights[c][t] for c in design.channels]
        key = "|".join(matrix_key(m) for m in mats)
        if key in groups:
            groups[key][1] += 1
        else:
            groups[key] = [[m.toarray() for m in mats], 1]
    return [(g[0], g[1]) for g in groups.values()]


def _dense(design: Design, beta: np.ndarray, theta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Impacts (D, K, 3 + C): direct, indirect, total, then the indirect part of each channel."""
    D, K = beta.shape
    C = rho.shape[1]
    acc = np.zeros((D, K, 3 + C))
    for mats, mult in _groups(design):
        n = mats[0].shape[0]
        r = [m.sum(axis=1) for m in mats]
        ww = [[mats[c] @ mats[d] for d in range(C)] for c in range(C)]
        wr = [[mats[c] @ r[d] for d in range(C)] for c in range(C)]
        for s in range(0, D, _CHUNK):
            sl = slice(s, min(D, s + _CHUNK))
            a = np.eye(n)[None] - np.einsum("dc,cij->dij", rho[sl], np.stack(mats))
            ainv = np.linalg.inv(a)
            tr_a = np.trace(ainv, axis1=1, axis2=2)
            tr_aw = np.stack([np.einsum("dij,ji->d", ainv, m) for m in mats], axis=1)  # (d, C)
            row = ainv.sum(axis=1)  # 1'A^-1, (d, n)
            one_a_one = row.sum(axis=1)
            one_a_r = np.stack([row @ rc for rc in r], axis=1)  # (d, C)
            bt, th = beta[sl], theta[sl]  # (d,K), (d,K,C)
            direct = bt * tr_a[:, None] + np.einsum("dkc,dc->dk", th, tr_aw)
            total = bt * one_a_one[:, None] + np.einsum("dkc,dc->dk", th, one_a_r)
            acc[sl, :, 0] += mult * direct
            acc[sl, :, 2] += mult * total
            for c in range(C):
                tr_awc_w = np.stack([np.einsum("dij,ji->d", ainv, ww[c][d]) for d in range(C)], axis=1)
                one_awc_r = np.stack([row @ wr[c][d] for d in range(C)], axis=1)
                tr_c = rho[sl, [c]] * (bt * tr_aw[:, [c]] + np.einsum("dke,de->dk", th, tr_awc_w))
                sum_c = th[:, :, c] * r[c].sum() + rho[sl, [c]] * (
                    bt * one_a_r[:, [c]] + np.einsum("dke,de->dk", th, one_awc_r))
                acc[sl, :, 3 + c] += mult * (sum_c - tr_c)
    acc /= design.n_obs
    acc[:, :, 1] = acc[:, :, 2] - acc[:, :, 0]
    return acc


# ------------------------------------------------------------------------------------------- public


def _draws(estimate: Estimate, lay: _Layout, draws: int, seed: int, bounds: list[tuple[float, float]]
           ) -> tuple[np.ndarray, int]:
    idx = sorted({*lay.beta, *[i for row in lay.theta for i in row if i is not None], *lay.rho})
    cov = estimate.cov[np.ix_(idx, idx)]
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((draws, len(idx)))
    full = np.tile(estimate.params, (draws, 1))
    full[:, idx] = estimate.params[idx] + z @ root.T
    ok = np.ones(draws, dtype=bool)
    for c, (lo, hi) in zip(lay.rho, bounds, strict=True):
        ok &= (full[:, c] > lo) & (full[:, c] < hi)
    return full[ok], int((~ok).sum())


def spatial_impacts(
    estimate: Estimate, design: Design, *, draws: int = 1000, seed: int = 20260101, level: float = 0.95
) -> pd.DataFrame:
    """Impacts of a SAR / SDM fit with simulated standard errors and percentile intervals.

    Parameters
    ----------
    estimate : Estimate
        A fit whose terms include the design's regressors, optional ``W_<channel>_<x>`` and ``rho_<channel>``.
    design : Design
        The design the fit used (weights per year).
    draws : int
        Parameter draws from ``N(hat, cov)``; draws with a ``rho`` outside its admissible interval are
        discarded (their number is in ``attrs["draws_discarded"]``). ``0`` gives point estimates only.
    seed : int
        Seed of the random generator.
    level : float
        Coverage of the percentile intervals.

    Returns
    -------
    pandas.DataFrame
        ``IMPACT_COLUMNS``; one row per regressor, channel and effect.
    """
    with single_thread_blas():
        return _spatial_impacts(estimate, design, draws=draws, seed=seed, level=level)


def _spatial_impacts(estimate: Estimate, design: Design, *, draws: int, seed: int, level: float) -> pd.DataFrame:
    lay = _layout(estimate, design)
    bounds = [rho_bounds([s.lam for s in _spectra(design, c)]) for c in design.channels]
    eig = _eig_terms(design) if len(design.channels) == 1 else None

    def compute(p: np.ndarray) -> np.ndarray:
        beta, theta, rho = _split(p, lay)
        if eig is not None:
            return _one_channel(eig, design.n_obs, beta, theta, rho)
        return _dense(design, beta, theta, rho)

    point = compute(estimate.params[None, :])[0]
    sims, discarded = (_draws(estimate, lay, draws, seed, bounds) if draws else (np.zeros((0, 0)), 0))
    sim = compute(sims) if len(sims) > 1 else None
    frame = _frame(point, sim, lay, level)
    frame.attrs.update(draws=draws, draws_used=0 if sim is None else len(sims), draws_discarded=discarded,
                       seed=seed)
    return frame


def _frame(point: np.ndarray, sim: np.ndarray | None, lay: _Layout, level: float) -> pd.DataFrame:
    rows = []
    multi = len(lay.channels) > 1
    label = "all" if multi else lay.channels[0]
    names = ["direct", "indirect", "total"]
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    for k, x in enumerate(lay.regressors):
        cols = [(j, label, names[j]) for j in range(3)]
        if multi:
            cols += [(3 + c, ch, "indirect") for c, ch in enumerate(lay.channels)]
        for j, ch, eff in cols:
            if sim is None:
                se, lo, hi = np.nan, np.nan, np.nan
            else:
                v = sim[:, k, j]
                se = float(np.std(v, ddof=1))
                lo, hi = (float(z) for z in np.percentile(v, q))
            rows.append((x, ch, eff, float(point[k, j]), se, lo, hi))
    return pd.DataFrame(rows, columns=IMPACT_COLUMNS)


def linear_impacts(estimate: Estimate, regressors: list[str], channels: list[str], level: float = 0.95
                   ) -> pd.DataFrame:
    """Impacts of models without a spatial lag of ``y`` (OLS, SLX): direct = beta, indirect = theta.

    Standard errors are analytical (linear combinations of the coefficients); intervals use the t distribution
    when the estimate has ``df_resid``, else the normal.
    """
    terms = estimate.terms
    dist = stats.t(estimate.df_resid) if estimate.df_resid else stats.norm()
    qz = dist.ppf(0.5 + level / 2)
    rows = []
    label = "+".join(channels) if channels else "none"
    for x in regressors:
        b = terms.index(x)
        th = [terms.index(f"W_{c}_{x}") for c in channels if f"W_{c}_{x}" in terms]
        combos = [("direct", label, [b]), ("indirect", label, th), ("total", label, [b, *th])]
        if len(channels) > 1:
            combos += [("indirect", c, [terms.index(f"W_{c}_{x}")]) for c in channels if f"W_{c}_{x}" in terms]
        for eff, ch, idx in combos:
            est = float(estimate.params[idx].sum()) if idx else 0.0
            se = float(np.sqrt(max(estimate.cov[np.ix_(idx, idx)].sum(), 0.0))) if idx else 0.0
            rows.append((x, ch, eff, est, se, est - qz * se, est + qz * se))
    return pd.DataFrame(rows, columns=IMPACT_COLUMNS)
