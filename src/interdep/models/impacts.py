"""Direct, indirect and total impacts of SAR / SDM panels, with simulated (LeSage & Pace 2009) inference.

For regressor ``x`` with coefficient ``beta`` and spatial-lag coefficients ``theta_c`` (SDM), the impact matrix of
year ``t`` is ``S_t = A_t^-1 (beta I + sum_c theta_c W_ct)`` with ``A_t = I - sum_c rho_c W_ct``. The direct
impact is the mean diagonal element of ``S_t``, the total the mean row sum, the indirect their difference; years
are pooled with weights ``n_t`` (i.e. the mean over all state-years). Everything is exact and per year:

* one channel: from each distinct year's eigen-decomposition ``W_t = V diag(lam) V^-1``,
  ``tr(A^-1) = sum 1/(1 - rho lam)``, ``tr(A^-1 W) = sum lam/(1 - rho lam)``,
  ``1'A^-1 v = sum_i (1'V)_i (V^-1 v)_i / (1 - rho lam_i)``; so 1,000 draws cost a few matrix products;
* several channels, or a year whose eigenvectors are ill-conditioned (asymmetric W): point estimates from
  ``A_t^-1`` per distinct year; for the draws, the few scalar functions of ``rho`` the impacts are linear in
  (``tr A^-1``, ``tr A^-1 W_c``, ``1'A^-1 1``, ...) are interpolated by a Chebyshev series of total degree
  ``N`` over the box of the drawn ``rho``'s (two channels: at Padua points), built from exact inverses at its
  nodes and checked against exact values at four draws to 1e-10 (else every draw is computed exactly).

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
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from interdep.models.design import Design
from interdep.models.panel_ml import (
    _spectra,
    _year_groups,
    distinct_years,
    matrix_key,
    rho_bounds,
    single_thread_blas,
    system_inverses,
)
from interdep.models.result import IMPACT_COLUMNS, Estimate

__all__ = ["linear_impacts", "spatial_impacts"]

_CHUNK = 100
_INTERPOLATE_ABOVE = 200  # draws; below, exact per-draw inverses are as cheap as the interpolation nodes
# the ladder of interpolation bases, (degree, tensor): one channel 8, 14, 24, 40 exact evaluations; two channels
# total degree 9 and 11 (55, 78), then tensor degree 12 and 19 (169, 400: coefficients that fall with the larger of
# the two degrees rather than with their sum, as for wide clouds of draws)
_DEGREES_1 = ((7, False), (13, False), (23, False), (39, False))
_DEGREES_2 = ((9, False), (11, False), (12, True), (19, True))


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


@dataclass
class _Functionals:
    """Sums over years (weighted by multiplicity) of the scalar functions of rho the impacts are linear in.

    ``tr`` = tr(A^-1), ``trw[c]`` = tr(A^-1 W_c), ``one`` = 1'A^-1 1, ``oner[c]`` = 1'A^-1 r_c,
    ``trww[c, d]`` = tr(A^-1 W_c W_d), ``onewr[c, d]`` = 1'A^-1 W_c r_d (``r_c = W_c 1``); each with a leading
    draw axis. ``sum_r[c]`` = 1'r_c does not depend on rho.
    """

    tr: np.ndarray
    trw: np.ndarray
    one: np.ndarray
    oner: np.ndarray
    trww: np.ndarray
    onewr: np.ndarray
    sum_r: np.ndarray

    def pack(self) -> np.ndarray:
        D = self.tr.shape[0]
        return np.column_stack([self.tr, self.trw, self.one, self.oner, self.trww.reshape(D, -1),
                                self.onewr.reshape(D, -1)])

    @classmethod
    def unpack(cls, flat: np.ndarray, C: int, sum_r: np.ndarray) -> _Functionals:
        D = flat.shape[0]
        i = np.cumsum([1, C, 1, C, C * C])
        return cls(flat[:, 0], flat[:, i[0]:i[1]], flat[:, i[1]], flat[:, i[2]:i[3]],
                   flat[:, i[3]:i[4]].reshape(D, C, C), flat[:, i[4]:].reshape(D, C, C), sum_r)


def _year_chain(design: Design) -> list[tuple]:
    """The distinct years in time order, embedded in the union of their states (``N``; a state absent in a year
    has a zero row and column in its W), each with: multiplicity, how many states are absent, the ``W_c``
    (sparse), the flattened ``Y'`` (``Y`` = I, W_c, W_c W_d; sparse, so memory grows with the links, not with
    ``N^2`` per year), the row sums ``r_c`` and ``W_c r_d``, and the rows in which
    some ``W_c`` differs from the previous year's with those differences (``None`` for a year to invert afresh:
    the first, or one where more than a third of the rows changed). Cached on the design."""
    if "impact_year_chain" not in design.cache:
        groups, index = _year_groups(design)
        ccode = design.sample["ccode"].to_numpy()
        ids = [ccode[design.blocks[int(np.flatnonzero(index == g)[0])]] for g in range(len(groups))]
        union = np.unique(np.concatenate(ids))
        N, C = len(union), len(design.channels)
        chain, previous = [], None
        for (mats, mult), states in zip(groups, ids, strict=True):
            at = np.searchsorted(union, states)
            stack = np.zeros((C, N, N))
            for c, m in enumerate(mats):
                stack[c][np.ix_(at, at)] = m
            r = stack.sum(axis=2).T  # (N, C)
            sparse = [sp.csr_array(m) for m in stack]
            ww = [sparse[c] @ sparse[d] for c in range(C) for d in range(C)]
            wr = np.column_stack([sparse[c] @ r[:, d] for c in range(C) for d in range(C)])
            ys = [sp.coo_array(y) for y in (sp.eye_array(N), *sparse, *ww)]  # vec(Y') has Y_ij at j N + i
            ys = sp.csr_array((np.concatenate([y.data for y in ys]),
                               (np.concatenate([y.coords[1] * N + y.coords[0] for y in ys]),
                                np.concatenate([np.full(y.nnz, q) for q, y in enumerate(ys)]))), shape=(N * N, len(ys)))
            update = None
            if previous is not None:
                rows = np.flatnonzero((stack != previous).any(axis=(0, 2)))
                if len(rows) <= N // 3:
                    update = (rows, (stack - previous)[:, rows, :])
            chain.append((mult, N - len(states), sparse, ys, r, wr, update))
            previous = stack
        design.cache["impact_year_chain"] = chain
    return design.cache["impact_year_chain"]


def _exact_functionals(design: Design, rho: np.ndarray) -> _Functionals:
    """The functionals at each row of ``rho`` (D, C) by dense per-year inverses (batched over draws).

    The years are taken in time order: a year whose W differs from the previous year's in ``k`` rows (``A_new =
    A_old + E_k R``, ``R = -sum_c rho_c (W_c,new - W_c,old)`` on those rows) gets its inverse from the previous
    one by the Woodbury identity, ``A_new^-1 = A_old^-1 - A_old^-1 E_k (I_k + R A_old^-1 E_k)^-1 R A_old^-1``
    (``4 k N^2`` operations against ``2 N^3``; on the ipi panel 0-55 of 178 rows change from one year to the next);
    the first year, and one where more than a third of the rows changed, is inverted afresh (LAPACK LU). Every
    trace ``tr(A^-1 Y)`` is ``vec(A^-1) . vec(Y')``: all of them for a chunk of draws are one matrix product of
    the flattened inverses with the flattened ``Y'`` (``Y`` = I, W_c, W_c W_d). A state absent in a year has an
    identity row and column in ``A``: each adds 1 to ``tr(A^-1)`` and to ``1'A^-1 1``, removed again.
    """
    D, C = rho.shape
    out = np.zeros((D, 2 + 2 * C + 2 * C * C))
    sum_r = np.zeros(C)
    for mult, absent, _, _, r, _, _ in _year_chain(design):
        sum_r += mult * r.sum(axis=0)
        out[:, [0, 1 + C]] -= mult * absent
    for s in range(0, D, _CHUNK):
        sl = slice(s, min(D, s + _CHUNK))
        ainv = None
        for mult, _, stack, ys, r, wr, update in _year_chain(design):
            if ainv is None or update is None:
                ainv = system_inverses(np.stack([m.toarray() for m in stack]), rho[sl])
            elif len(update[0]):
                rows, diff = update
                R = -np.tensordot(rho[sl], diff, axes=1)  # (d, k, N)
                X = ainv[:, :, rows]  # A_old^-1 E_k, (d, N, k)
                ainv = ainv - X @ np.linalg.solve(np.eye(len(rows)) + R @ X, R @ ainv)
            row = ainv.sum(axis=1)  # 1'A^-1, (d, N)
            tr = (ys.T @ ainv.reshape(len(ainv), -1).T).T  # ys sparse: only the pattern of the Y's is read
            out[sl] += mult * np.hstack([tr[:, :1 + C], row.sum(axis=1)[:, None], row @ r, tr[:, 1 + C:], row @ wr])
    return _Functionals.unpack(out, C, sum_r)


def _cheb_points(lo: float, hi: float, m: int) -> np.ndarray:
    k = np.arange(m)
    return (lo + hi) / 2 + (hi - lo) / 2 * np.cos((2 * k + 1) * np.pi / (2 * m))


def _nodes(degree: int, C: int, tensor: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation nodes in ``[-1, 1]^C`` (P, C) and the exponents (P, C) of their Chebyshev basis
    ``prod_c T_{e_c}(x_c)``: the polynomials of total degree ``degree`` (one channel, the ``degree + 1``
    Chebyshev points; two, the Padua points, Caliari, De Marchi & Vianello 2005: unisolvent for total degree
    ``degree``, ``(degree + 1)(degree + 2)/2`` of them) or, ``tensor``, of degree ``degree`` in each rho (the
    tensor grid of Chebyshev points)."""
    cheb = _cheb_points(-1.0, 1.0, degree + 1)
    if C == 1:
        return cheb[:, None], np.arange(degree + 1)[:, None]
    if tensor:
        grid = np.stack(np.meshgrid(cheb, cheb, indexing="ij"), axis=-1).reshape(-1, 2)
        exps = np.stack(np.meshgrid(np.arange(degree + 1), np.arange(degree + 1), indexing="ij"), axis=-1)
        return grid, exps.reshape(-1, 2)
    j, k = np.meshgrid(np.arange(degree + 1), np.arange(degree + 2), indexing="ij")
    keep = (j + k) % 2 == 0
    nodes = np.column_stack([np.cos(j[keep] * np.pi / degree), np.cos(k[keep] * np.pi / (degree + 1))])
    exps = np.array([(i, t - i) for t in range(degree + 1) for i in range(t + 1)])
    return nodes, exps


def _augment(nodes: np.ndarray, degree: int, C: int, tensor: bool) -> tuple[np.ndarray, np.ndarray]:
    """New nodes that, with ``nodes`` (evaluated for a smaller basis), interpolate the basis of
    :func:`_nodes` ``(degree, C, tensor)``, and its exponents. The new ones are chosen among the nodes of
    :func:`_nodes` by QR with column pivoting on the candidates' basis values projected off the span of the old
    nodes' (approximate Fekete points, Sommariva & Vianello 2009), so a larger basis costs only as many exact
    evaluations as it adds basis functions."""
    candidates, exps = _nodes(degree, C, tensor)
    if not len(nodes):
        return candidates, exps
    old = _basis(nodes, exps)
    null = np.linalg.svd(old)[2][len(nodes):].T  # (B, B - P): the coefficients the old nodes do not see
    piv = sla.qr((_basis(candidates, exps) @ null).T, pivoting=True, mode="economic")[2]
    return candidates[piv[: len(exps) - len(nodes)]], exps


def _basis(x: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """The Chebyshev basis ``prod_c T_{e_c}(x_c)`` (P, B) at points ``x`` (P, C) in ``[-1, 1]^C``."""
    out = np.ones((len(x), len(exps)))
    for c in range(x.shape[1]):
        out *= np.polynomial.chebyshev.chebvander(x[:, c], int(exps[:, c].max()))[:, exps[:, c]]
    return out


def _interpolated_functionals(design: Design, rho: np.ndarray, centre: np.ndarray) -> tuple[_Functionals, str]:
    """The functionals at many draws by Chebyshev interpolation in rho, checked against exact values.

    The functionals are rational in rho with poles where ``I - sum rho_c W_c`` is singular. The interpolation box
    is spanned in the principal axes of the draws (a tight fit around the elongated cloud of correlated rho's,
    which keeps the box clear of the singular set); the interpolant then converges geometrically. Its Chebyshev
    coefficients fall geometrically in the total degree (on the real ipi panel, contiguity + alliance, by about
    one decade per degree, the same along both axes), so the polynomials of total degree ``N`` are interpolated:
    for two channels at the ``(N + 1)(N + 2)/2`` Padua points instead of the ``(N + 1)^2`` of a tensor grid.
    The degree climbs the ladder ``_DEGREES_1`` / ``_DEGREES_2`` (a raised degree reuses the nodes evaluated so
    far, :func:`_augment`) until four draws (the extremes along the first axis, one at random, the farthest)
    agree with the exact values to 1e-10 relative; otherwise (or once a degree needs as many nodes as there are
    draws) every draw is computed exactly. On the ipi panel
    the largest error over all 1,000 draws is 7.6e-12 (SAR, degree 9, 55 nodes) and 8.2e-12 (SDM, degree 11,
    78 nodes); the tensor grid of degree 8 (81 nodes) before gave 8.7e-12 and 5.0e-11.
    """
    D, C = rho.shape
    cov = np.atleast_2d(np.cov(rho, rowvar=False)) if D > C else np.eye(C)
    _, axes = np.linalg.eigh(cov)
    u = (rho - centre) @ axes  # principal coordinates
    lo = np.minimum(u.min(axis=0), 0.0)
    hi = np.maximum(u.max(axis=0), 0.0)
    pad = 0.02 * (hi - lo) + 1e-9
    lo, hi = lo - pad, hi + pad

    def unit(v: np.ndarray) -> np.ndarray:
        return (2 * v - lo - hi) / (hi - lo)

    far = int(np.argmax(np.sum(((u - lo) / (hi - lo) - 0.5) ** 2, axis=1)))
    pick = [int(np.argmin(u[:, -1])), int(np.argmax(u[:, -1])), D // 2, far]
    exact_check = _exact_functionals(design, rho[pick]).pack()
    scale = np.maximum(np.abs(exact_check).max(axis=0), 1e-300)
    nodes, values = np.zeros((0, C)), np.zeros((0, exact_check.shape[1]))
    for degree, tensor in (_DEGREES_1 if C == 1 else _DEGREES_2):
        new, exps = _augment(nodes, degree, C, tensor)
        if len(exps) >= D:  # as many exact evaluations as draws: compute the draws themselves
            break
        exact = _exact_functionals(design, centre + ((new + 1) / 2 * (hi - lo) + lo) @ axes.T)
        nodes, values = np.vstack([nodes, new]), np.vstack([values, exact.pack()])
        coef = np.linalg.solve(_basis(nodes, exps), values)
        approx = _basis(unit(u[pick]), exps) @ coef
        if np.max(np.abs(approx - exact_check) / scale) < 1e-10:
            basis = "tensor" if tensor else "total"
            return (_Functionals.unpack(_basis(unit(u), exps) @ coef, C, exact.sum_r),
                    f"Chebyshev interpolation in rho ({basis} degree {degree}, checked to 1e-10)")
    return _exact_functionals(design, rho), "exact per-draw inverses"


def _combine(f: _Functionals, beta: np.ndarray, theta: np.ndarray, rho: np.ndarray, n: int) -> np.ndarray:
    """Impacts (D, K, 3 + C): direct, indirect, total, then the indirect part of each channel."""
    D, K = beta.shape
    C = rho.shape[1]
    out = np.zeros((D, K, 3 + C))
    out[:, :, 0] = beta * f.tr[:, None] + np.einsum("dkc,dc->dk", theta, f.trw)
    out[:, :, 2] = beta * f.one[:, None] + np.einsum("dkc,dc->dk", theta, f.oner)
    for c in range(C):
        tr_c = rho[:, [c]] * (beta * f.trw[:, [c]] + np.einsum("dke,de->dk", theta, f.trww[:, c, :]))
        sum_c = theta[:, :, c] * f.sum_r[c] + rho[:, [c]] * (
            beta * f.oner[:, [c]] + np.einsum("dke,de->dk", theta, f.onewr[:, c, :]))
        out[:, :, 3 + c] = sum_c - tr_c
    out /= n
    out[:, :, 1] = out[:, :, 2] - out[:, :, 0]
    return out


def _dense(design: Design, beta: np.ndarray, theta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Impacts (D, K, 3 + C) from exact per-draw inverses."""
    return _combine(_exact_functionals(design, rho), beta, theta, rho, design.n_obs)


# ------------------------------------------------------------------------------------------- public


def _jointly_admissible(design: Design, rho: np.ndarray) -> np.ndarray:
    """Which rows of ``rho`` (D, C) keep ``I - sum_c rho_c W_ct`` invertible with positive determinant in every
    year. ``sum_c |rho_c| max_i sum_j |w_cij| < 1`` suffices (no LU needed); other draws are checked by LU."""
    norms = np.array([max(np.abs(w).sum(axis=1).max(initial=0.0) for w in design.weights[c])
                      for c in design.channels])
    ok = np.abs(rho) @ norms < 1
    groups = distinct_years(design)
    for d in np.flatnonzero(~ok):
        ok[d] = all(np.linalg.slogdet(np.eye(m[0].shape[0]) - sum(r * w for r, w in zip(rho[d], m, strict=True)))[0]
                    > 0 for m, _ in groups)
    return ok


def _draws(estimate: Estimate, lay: _Layout, draws: int, seed: int, bounds: list[tuple[float, float]],
           design: Design) -> tuple[np.ndarray, int]:
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
    if len(lay.rho) > 1:
        ok[ok] = _jointly_admissible(design, full[ok][:, lay.rho])
    return full[ok], int((~ok).sum())


def spatial_impacts(
    estimate: Estimate, design: Design, *, draws: int = 1000, seed: int = 20260101, level: float = 0.95,
    long_run: bool = False,
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
    long_run : bool
        Dynamic model (terms ``<outcome>_lag1`` = tau and ``W_<channel>_<outcome>_lag1`` = eta_c): add the
        long-run (steady-state) effects, rows with ``effect`` = ``long_run_direct | long_run_indirect |
        long_run_total`` (Elhorst 2014, sec. 4.4): ``[(1 - tau) I - sum_c (rho_c + eta_c) W_ct]^-1 (beta I +
        sum_c theta_c W_ct)``, i.e. the short-run formulas at ``rho_c* = (rho_c + eta_c) / (1 - tau)`` with
        ``beta / (1 - tau)``, ``theta / (1 - tau)``, year by year (each year's W held fixed). Draws without a
        steady state (``tau >= 1`` or a ``rho*`` outside its admissible interval) are discarded and counted in
        ``attrs["draws_discarded_long_run"]``; when the estimates themselves have none, no long-run rows and
        ``attrs["long_run"]`` says why. The direct / indirect / total rows are the short-run effects.

    Returns
    -------
    pandas.DataFrame
        ``IMPACT_COLUMNS``; one row per regressor, channel and effect.
    """
    with single_thread_blas():
        return _spatial_impacts(estimate, design, draws=draws, seed=seed, level=level, long_run=long_run)


def _long_run_params(p: np.ndarray, lay: _Layout, tau: int, eta: list[int]) -> np.ndarray:
    """Parameter draws (D, p) mapped to their long-run counterparts (see :func:`spatial_impacts`)."""
    q = p.copy()
    scale = 1.0 / (1.0 - p[:, tau])
    for c, r in enumerate(lay.rho):
        q[:, r] = (p[:, r] + p[:, eta[c]]) * scale
    for idx in [*lay.beta, *(i for row in lay.theta for i in row if i is not None)]:
        q[:, idx] = p[:, idx] * scale
    return q


def _spatial_impacts(estimate: Estimate, design: Design, *, draws: int, seed: int, level: float,
                     long_run: bool = False) -> pd.DataFrame:
    lay = _layout(estimate, design)
    bounds = [rho_bounds([s.lam for s in _spectra(design, c)]) for c in design.channels]
    eig = _eig_terms(design) if len(design.channels) == 1 else None
    method = "eigen-decomposition per year" if eig is not None else "exact per-draw inverses"

    def compute(p: np.ndarray, centre: np.ndarray, interpolate: bool = False) -> np.ndarray:
        nonlocal method
        beta, theta, rho = _split(p, lay)
        if eig is not None:
            return _one_channel(eig, design.n_obs, beta, theta, rho)
        if interpolate:
            f, method = _interpolated_functionals(design, rho, centre)
            return _combine(f, beta, theta, rho, design.n_obs)
        return _dense(design, beta, theta, rho)

    point = compute(estimate.params[None, :], estimate.params[lay.rho])[0]
    sims, discarded = (_draws(estimate, lay, draws, seed, bounds, design) if draws else (np.zeros((0, 0)), 0))
    interpolate = len(sims) > _INTERPOLATE_ABOVE and len(design.channels) <= 2
    sim = compute(sims, estimate.params[lay.rho], interpolate) if len(sims) > 1 else None
    frame = _frame(point, sim, lay, level)
    frame.attrs.update(draws=draws, draws_used=0 if sim is None else len(sims), draws_discarded=discarded,
                       seed=seed, method=method)
    if long_run:
        ylag = next(t for t in estimate.terms if t.endswith("_lag1") and not t.startswith("W_"))
        tau = estimate.terms.index(ylag)
        eta = [estimate.terms.index(f"W_{c}_{ylag}") for c in design.channels]
        lr_hat = _long_run_params(estimate.params[None, :], lay, tau, eta)
        if not _steady(lr_hat, estimate.params[None, tau], lay, bounds, design)[0]:
            frame.attrs["long_run"] = (f"no long-run effects: the estimates have no steady state (tau = "
                                       f"{estimate.params[tau]:.4g}, rho* = {lr_hat[0, lay.rho].round(4).tolist()})")
            return frame
        lr_point = compute(lr_hat, lr_hat[0, lay.rho])[0]
        lr_sims = _long_run_params(sims, lay, tau, eta) if len(sims) else sims
        ok = _steady(lr_sims, sims[:, tau], lay, bounds, design) if len(sims) else np.zeros(0, dtype=bool)
        lr_sim = compute(lr_sims[ok], lr_hat[0, lay.rho], interpolate) if ok.sum() > 1 else None
        lr = _frame(lr_point, lr_sim, lay, level)
        lr["effect"] = "long_run_" + lr["effect"]
        attrs = dict(frame.attrs)
        frame = pd.concat([frame, lr], ignore_index=True)
        frame.attrs.update(attrs, draws_discarded_long_run=int((~ok).sum()))
    return frame


def _steady(lr: np.ndarray, tau: np.ndarray, lay: _Layout, bounds: list[tuple[float, float]],
            design: Design) -> np.ndarray:
    """Which long-run parameter rows have a steady state: tau < 1 and admissible rho* (jointly, several)."""
    ok = tau < 1
    for c, (lo, hi) in zip(lay.rho, bounds, strict=True):
        ok &= (lr[:, c] > lo) & (lr[:, c] < hi)
    if len(lay.rho) > 1 and ok.any():
        ok[ok] = _jointly_admissible(design, lr[ok][:, lay.rho])
    return ok


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
    label = "all" if len(channels) > 1 else (channels[0] if channels else "none")
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
