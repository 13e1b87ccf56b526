"""Maximum likelihood for spatial-lag (SAR) and spatial Durbin (SDM) panels with one weight matrix per year.

Model (stacked by year): ``y = sum_c rho_c W_c y + X beta + D alpha + e``, ``e ~ N(0, sigma2 I)``, where every
``W_c`` is block-diagonal with one row-standardised block per year (the blocks may differ across years and the
panel may be unbalanced) and ``D`` holds unit and/or year dummies, removed by the exact projection of
:class:`interdep.models.design.EffectsProjector` (Elhorst's "direct approach").

The likelihood is concentrated in ``rho``: for given ``rho`` the betas and ``sigma2`` have closed forms, and the
residual sum of squares is a quadratic in ``rho`` built once from ``C + 1`` auxiliary regressions. The
log-Jacobian ``sum_t log|I - sum_c rho_c W_ct|`` is computed

* for one channel from the eigenvalues of each distinct ``W_t``, computed once:
  ``sum_t sum_i log(1 - rho lambda_ti)``; the search runs over ``(1/lambda_min, 1/lambda_max)``;
* for several channels by a dense LU of each distinct year's ``n_t x n_t`` matrix (eigenvalues of different
  matrices do not combine), maximised over the box of the single-channel intervals subject to a positive
  determinant (the connected region around zero where ``I - sum_c rho_c W_c`` is invertible).

Fixed effects and inference (``lee_yu=True``, the default; Lee & Yu 2010, generalised):

* **time effects** (``time``, ``twoway``) with every year's ``W_ct`` row-standardised (no islands): the
  time-demeaning transformation is exact for any such ``W_t``, also varying by year and unbalanced, because
  ``(I - J) W_t = (I - J) W_t (I - J)`` and ``log|I - rho F'W_t F| = log|I - rho W_t| - log(1 - rho)``
  (``F`` the orthonormal complement of ``1``). The estimator maximises this transformed likelihood,
  ``-(n - T)/2 log(e'Qe) + sum_t log|I - sum_c rho_c W_ct| - T log(1 - sum_c rho_c)``, which removes the
  O(1/N) bias of the direct approach. Unit effects only rescale a likelihood (balanced, fixed ``W``) or are
  handled by the exact projection (Elhorst's direct approach; its rho, beta are consistent for large T).
* **sigma2** = ``e'Qe / (n - p)``, ``p`` the number of independent dummies: the degrees-of-freedom correction.
  Balanced with one fixed ``W`` it equals Lee & Yu's: ``N(T-1)``, ``(N-1)T``, ``(N-1)(T-1)``.
* **information matrix**: the variance of the score with the effects projected out, i.e. every trace of the
  Anselin / Lee (2004) information taken after the projection ``Q``: ``tr(Q G)``, ``tr(G'QG) + tr(QGQG)``,
  ``(G mu)'Q(G mu)``, and ``n - p`` for sigma2. In the cases Lee & Yu treat (balanced, fixed row-standardised
  ``W``) these are exactly their transformed-approach traces (``(T-1) tr(G_N)``, ``T (tr(G_N) - 1/(1-rho))``,
  ...); elsewhere (unbalanced, ``W`` varying by year) it is the degrees-of-freedom correction the Monte Carlo in
  ``benchmarks/`` checks.

``lee_yu=False`` gives the plain direct approach (sigma2 = e'Qe / n, unprojected traces), as spreg's
``ML_LagFE`` and ``spatialreg::lagsarlm`` with dummies.

Heteroskedasticity-robust (QML sandwich) covariance, ``se="robust"`` (:func:`robust_covariance`): every score
component at the true parameters is a linear-quadratic form in the independent errors ``e``,
``beta``: ``X'Qe / s2``; ``rho_c``: ``(QG_c mu)'e / s2 + e'G_c'Qe / s2 - tr(QG_c)``; ``sigma2``:
``e'Qe / (2 s2^2) - dof / (2 s2)``. It is not a sum of independent per-observation terms (``e'G'Qe`` couples
every pair of observations), so its variance ``V`` is the variance of linear-quadratic forms under independent
heteroskedastic errors (Kelejian & Prucha 2001; Lin & Lee 2010), :func:`linear_quadratic_covariance`, with
residual plug-ins; the covariance is ``H^-1 V H^-1`` with ``H`` the information matrix above. **Caveat** (Lin &
Lee 2010): under heteroskedasticity ML of the SAR is itself inconsistent unless ``E[e'G'Qe] = s2 tr(QG)`` still
holds, e.g. when ``diag(G)`` is (nearly) constant (row-standardised W with equal numbers of neighbours) or the
variances are unrelated to the geography (``diag(G)``, ``diag(G'QG)``); the sandwich is valid where the estimator
is consistent, and does not repair the estimator elsewhere. Clustering by state (``se="cluster"``) is not
offered: see :data:`CLUSTER_REFUSAL`.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize
from scipy.linalg import lapack
from scipy.sparse import csgraph

from interdep.errors import EstimationError
from interdep.models.design import Design, check_collinearity
from interdep.models.result import Estimate

__all__ = ["CLUSTER_REFUSAL", "SE_TYPES", "Correction", "Spectrum", "correction", "fit_sar_ml",
           "linear_quadratic_covariance", "matrix_key", "rho_bounds", "robust_covariance", "score_forms",
           "single_thread_blas", "spectrum", "stability"]

_BOUND_MARGIN = 1e-7
SE_TYPES = ("classical", "robust")  # se: cluster is refused (CLUSTER_REFUSAL)
CLUSTER_REFUSAL = (
    "se: cluster (by state) is not available for the ML spatial-lag estimators: the score's quadratic part "
    "e'G'Qe couples states through G, so the score is not a sum of independent state contributions; its variance "
    "under errors correlated within a state needs within-state fourth moments of the error vectors that one "
    "draw per state does not identify, and ML itself is inconsistent when E[e'G'Qe] != sigma2 tr(QG) (Lin & "
    "Lee 2010), which within-state correlation with unit effects generally brings. Use se: robust "
    "(independent heteroskedastic errors) or a Bayesian / GMM estimator")


# ----------------------------------------------------------------------------------------------- spectra


@dataclass(frozen=True)
class Spectrum:
    """Eigen-decomposition ``W = V diag(lam) V^-1`` of one year's weights (``V``, ``Vinv`` may be ``None``)."""

    lam: np.ndarray
    V: np.ndarray | None = None
    Vinv: np.ndarray | None = None

    @property
    def real(self) -> bool:
        return not np.iscomplexobj(self.lam)


def matrix_key(w: sp.sparray) -> str:
    """A content hash of a sparse matrix (to compute per-year quantities once per distinct matrix)."""
    w = sp.csr_array(w)
    w.sort_indices()
    h = hashlib.sha1(usedforsecurity=False)
    for a in (np.asarray(w.shape), w.indptr, w.indices, w.data):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _symmetrizer(w: sp.csr_array) -> np.ndarray | None:
    """Positive ``d`` with ``d_i w_ij = d_j w_ji`` (W similar to a symmetric matrix), or ``None``.

    Row-standardised weights built from a symmetric matrix have one: the original row sums. ``d`` is
    propagated along a breadth-first spanning forest (level by level) and then verified on every link.
    """
    n = w.shape[0]
    dense = w.toarray()
    if not np.array_equal(dense != 0, dense.T != 0) or (dense < 0).any():
        return None
    n_comp, labels = csgraph.connected_components(w, directed=False)
    roots = np.unique(labels, return_index=True)[1]
    # one breadth-first search from a virtual node n linked to every component's first node: a spanning forest
    links = sp.coo_array((np.ones(n_comp), (np.full(n_comp, n), roots)), shape=(n + 1, n + 1))
    graph = sp.block_diag([w, sp.csr_array((1, 1))], format="csr") + links
    order, pred = csgraph.breadth_first_order(graph, n, directed=False, return_predecessors=True)
    depth = np.zeros(n + 1, dtype=int)
    for node in order[1:]:
        depth[node] = depth[pred[node]] + 1
    d = np.zeros(n)
    d[roots] = 1.0
    for level in range(2, int(depth.max()) + 1):  # one vectorised step per level of the forest
        nodes = np.flatnonzero(depth == level)
        p = pred[nodes]
        d[nodes] = d[p] * dense[p, nodes] / dense[nodes, p]
    lhs = d[:, None] * dense
    if not np.allclose(lhs, lhs.T, rtol=1e-10, atol=1e-14 * max(1.0, lhs.max())):
        return None
    return d


_CONTROLLER = None


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run BLAS / LAPACK single-threaded: the per-year matrices are small (n <= 200), where threads only add
    overhead (50x on a loaded 2-core machine). A no-op without threadpoolctl."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        yield
        return
    if _CONTROLLER is None:  # scanning the loaded libraries costs ~25 ms: once per process
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


def spectrum(w: sp.sparray, *, vectors: bool = False) -> Spectrum:
    """Eigenvalues (and optionally eigenvectors) of one year's weight matrix.

    For ``W`` similar to a symmetric matrix (row-standardised symmetric weights) the symmetric form is
    decomposed (real, accurate, fast); otherwise a general eigen-decomposition is used. Eigenvalues whose
    imaginary parts are all negligible are returned as real.
    """
    w = sp.csr_array(w, dtype=float)
    n = w.shape[0]
    if n == 0:
        return Spectrum(np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0)))
    d = _symmetrizer(w) if w.nnz else np.ones(n)
    dense = w.toarray()
    if d is not None:
        sq = np.sqrt(d)
        s = (sq[:, None] * dense) / sq[None, :]
        s = (s + s.T) / 2
        if not vectors:
            return Spectrum(np.linalg.eigvalsh(s))
        lam, u = np.linalg.eigh(s)
        return Spectrum(lam, u / sq[:, None], u.T * sq[None, :])
    if not vectors:
        lam = np.linalg.eigvals(dense)
        return Spectrum(_realify(lam))
    lam, V = np.linalg.eig(dense)
    Vinv = np.linalg.inv(V)
    if np.abs(V @ (lam[:, None] * Vinv) - dense).max() > 1e-8:
        return Spectrum(_realify(lam))  # defective / ill-conditioned: callers fall back to dense solves
    if np.abs(lam.imag).max() < 1e-12 and np.abs(V.imag).max() < 1e-12:
        return Spectrum(lam.real, V.real, Vinv.real)
    return Spectrum(lam, V, Vinv)


def _realify(lam: np.ndarray) -> np.ndarray:
    return lam.real if np.abs(lam.imag).max(initial=0.0) < 1e-12 else lam


def rho_bounds(lams: list[np.ndarray]) -> tuple[float, float]:
    """The admissible interval ``(1/lambda_min, 1/lambda_max)`` over the real eigenvalues of all years."""
    real = np.concatenate([np.real(lam[np.abs(np.imag(lam)) < 1e-10]) for lam in lams] or [np.zeros(0)])
    lo = 1.0 / real.min() if real.size and real.min() < -1e-12 else -10.0
    hi = 1.0 / real.max() if real.size and real.max() > 1e-12 else 10.0
    return lo + _BOUND_MARGIN * abs(lo), hi - _BOUND_MARGIN * abs(hi)


def at_bound(value: float, bounds: tuple[float, float], rel: float = 1e-4) -> bool:
    """Whether ``value`` lies outside ``bounds`` or within ``rel`` of their width from either end."""
    lo, hi = bounds
    return bool(min(value - lo, hi - value) < rel * (hi - lo))


def channel_bounds(design: Design, channel: str) -> tuple[float, float]:
    """The admissible interval of one channel's spatial parameter over every year of the design."""
    return rho_bounds([s.lam for s in _spectra(design, channel)])


def _spectra(design: Design, channel: str, *, vectors: bool = False) -> list[Spectrum]:
    """Per-year spectra of ``channel``, computed once per distinct matrix and cached on the design.

    Eigenvalues are taken from a cached decomposition with eigenvectors when there is one (so fit, profile and
    impacts share one decomposition per distinct year when the vectors were asked for first, as
    :func:`interdep.models.fit.fit_model` does for one-channel models with impact draws).
    """
    cache = design.cache.setdefault(("spectrum", vectors), {})
    with_vectors = design.cache.get(("spectrum", True), {})
    out = []
    for w in design.weights[channel]:
        key = matrix_key(w)
        if key not in cache:
            cache[key] = with_vectors[key] if key in with_vectors else spectrum(w, vectors=vectors)
        out.append(cache[key])
    return out


# ----------------------------------------------------------------------------------------------- log-Jacobian


class _EigLogDet:
    """``sum_t log|I - rho W_t|`` and its derivative from eigenvalues (one channel)."""

    def __init__(self, lams: list[np.ndarray]):
        self.lam = np.concatenate(lams) if lams else np.zeros(0)

    def __call__(self, rho: float) -> float:
        return float(np.sum(np.log(np.abs(1.0 - rho * self.lam))))


def _year_groups(design: Design) -> tuple[list[tuple[list[np.ndarray], int]], np.ndarray]:
    """The distinct years (each channel's dense W, how many years share them) and, per period, the index of its
    distinct year; computed once per design (cached)."""
    if "year_groups" not in design.cache:
        groups: dict[str, list] = {}
        index = np.zeros(design.n_periods, dtype=int)
        for t in range(design.n_periods):
            mats = [design.weights[c][t] for c in design.channels]
            key = "|".join(matrix_key(m) for m in mats)
            if key in groups:
                groups[key][1] += 1
            else:
                groups[key] = [[m.toarray() for m in mats], 1, len(groups)]
            index[t] = groups[key][2]
        design.cache["year_groups"] = ([(g[0], g[1]) for g in groups.values()], index)
    return design.cache["year_groups"]


def distinct_years(design: Design) -> list[tuple[list[np.ndarray], int]]:
    """The distinct years of a design: each channel's dense W in that year, and how many years share them."""
    return _year_groups(design)[0]


def connected_states(mats: list[np.ndarray]) -> np.ndarray:
    """Indices of the states of one year with a neighbour (a nonzero row or column of some channel's W).

    The others are isolated in every channel: their rows and columns of ``A = I - sum_c rho_c W_c`` are those of
    the identity, so ``A`` is block-diagonal with an identity block, ``log|A|`` and every ``tr(A^-1 Y)`` with
    ``Y`` zero on them come from the block of the connected states alone (an exact reduction; about 12 of ~170
    states a year on the ipi panel, contiguity + alliance: a fifth of the cost of each dense LU / inverse)."""
    linked = np.zeros(mats[0].shape[0], dtype=bool)
    for m in mats:
        linked |= (m != 0).any(axis=0) | (m != 0).any(axis=1)
    return np.flatnonzero(linked)


def year_inverses(design: Design, rho: np.ndarray) -> list[np.ndarray]:
    """``(I - sum_c rho_c W_ct)^-1`` per distinct year (order of :func:`distinct_years`).

    The inverses at the last ``rho`` asked for, or at the last point where the multi-channel fit took
    derivatives (its estimate), are cached on the design: the fit's last Newton step and its information matrix
    share one inverse per distinct year at the estimate."""
    rho = np.asarray(rho, dtype=float)
    cached = design.cache.get("year_inverses")
    if cached is None or not np.array_equal(cached[0], rho):
        blocks = []
        for mats, _ in distinct_years(design):
            keep = connected_states(mats)  # the others: rows and columns of the identity in A and A^-1
            a = np.eye(len(keep)) - sum(r * w[np.ix_(keep, keep)] for r, w in zip(rho, mats, strict=True))
            blocks.append(_invert(a) if len(keep) else a)
        cached = (rho.copy(), blocks)
        design.cache["year_inverses"] = cached
    out = []
    for (mats, _), block in zip(distinct_years(design), cached[1], strict=True):
        keep = connected_states(mats)
        ainv = np.eye(mats[0].shape[0])
        ainv[np.ix_(keep, keep)] = block
        out.append(ainv)
    return out


def _invert(m: np.ndarray) -> np.ndarray:
    """The inverse of ``m`` by LAPACK ``getrf`` + ``getri``: about 30% faster than :func:`numpy.linalg.inv`
    (``gesv`` against the identity) for the n <= 200 of a year's W."""
    lu, piv, info = lapack.dgetrf(m)
    if info == 0:
        inv, info = lapack.dgetri(lu, piv)
    if info != 0:
        raise np.linalg.LinAlgError("Singular matrix")
    return inv


def system_inverses(stack: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``(I - sum_c rho_ic W_c)^-1`` (d, n, n) for each row of ``rho`` (d, C), ``stack`` the ``W_c`` (C, n, n).

    Each matrix is formed just before its LU (forming the whole stack first, a (d, C) x (C, n^2) product, costs
    half as much again as the inverses)."""
    C, n = stack.shape[0], stack.shape[1]
    flat = stack.reshape(C, -1)
    out = np.empty((len(rho), n, n))
    for i, r in enumerate(np.asarray(rho, dtype=float)):
        a = (-(r @ flat)).reshape(n, n)
        a.flat[:: n + 1] += 1.0
        out[i] = _invert(a)
    return out


class _LUJacobian:
    """``sum_t log|I - sum_c rho_c W_ct|``, its gradient and Hessian by dense LU per distinct year (several
    channels), on the states with a neighbour in some channel (:func:`connected_states`: the others add
    nothing)."""

    def __init__(self, design: Design):
        self.channels = design.channels
        self.cache = design.cache  # where the inverses of the last derivatives go (see year_inverses)
        self.groups = distinct_years(design)
        self.stacks = []
        for mats, _ in self.groups:
            keep = connected_states(mats)
            self.stacks.append(np.stack([m[np.ix_(keep, keep)] for m in mats]))
        self.sparse = [[sp.csr_array(m) for m in stack] for stack in self.stacks]

    @classmethod
    def of(cls, design: Design) -> _LUJacobian:
        """The one of ``design`` (built once, cached on it: fit and profile share it)."""
        if "lu_jacobian" not in design.cache:
            design.cache["lu_jacobian"] = cls(design)
        return design.cache["lu_jacobian"]

    def matrix(self, g: int, rho: np.ndarray) -> np.ndarray:
        """``I - sum_c rho_c W_c`` of distinct year ``g`` (its connected states)."""
        n = self.stacks[g].shape[1]
        a = (-np.asarray(rho, dtype=float) @ self.stacks[g].reshape(len(rho), -1)).reshape(n, n)
        a.flat[:: n + 1] += 1.0
        return a

    def __call__(self, rho: np.ndarray, gradient: bool = True) -> tuple[float, np.ndarray, bool]:
        """Value, gradient (zeros unless ``gradient``; it costs an inverse per year, the value only an LU) and
        whether every year's determinant is positive."""
        value, grad, _, ok = self.derivatives(rho, 1 if gradient else 0)
        return value, grad, ok

    def derivatives(self, rho: np.ndarray, order: int = 2) -> tuple[float, np.ndarray, np.ndarray, bool]:
        """Value, gradient (``order >= 1``) and Hessian (``order == 2``) from one LU (and, for the derivatives,
        one inverse) per distinct year, and whether every year's determinant is positive. The Hessian is
        ``-sum_t tr(A_t^-1 W_ct A_t^-1 W_dt)``; ``A^-1 W_c`` costs a sparse product."""
        C = len(self.channels)
        total = 0.0
        grad = np.zeros(C)
        hess = np.zeros((C, C))
        blocks = []
        for g, (_, mult) in enumerate(self.groups):
            n = self.stacks[g].shape[1]
            if n == 0:
                blocks.append(np.zeros((0, 0)))
                continue
            lu, piv, info = lapack.dgetrf(self.matrix(g, rho))
            diag = np.diag(lu)
            if info != 0 or np.prod(np.sign(diag)) * (-1) ** np.count_nonzero(piv != np.arange(n)) <= 0:
                return -np.inf, grad, hess, False
            total += mult * np.sum(np.log(np.abs(diag)))
            if order == 0:
                continue
            ainv, _ = lapack.dgetri(lu, piv)  # from the LU: faster than solving against I
            blocks.append(ainv)
            bt = [w.T @ ainv.T for w in self.sparse[g]]  # (A^-1 W_c)'
            for c in range(C):
                grad[c] -= mult * np.trace(bt[c])
                if order == 2:
                    for d in range(c + 1):
                        hess[c, d] -= mult * np.sum(bt[c] * bt[d].T)
                        hess[d, c] = hess[c, d]
        if order:
            self.cache["year_inverses"] = (np.array(rho, dtype=float), blocks)
        return total, grad, hess, True

    def hessian(self, rho: np.ndarray) -> np.ndarray:
        """``d^2/drho_c drho_d sum_t log|A_t| = -sum_t tr(A_t^-1 W_ct A_t^-1 W_dt)``."""
        return self.derivatives(rho, 2)[2]


# ----------------------------------------------------------------------------------------------- estimation


@dataclass
class _Parts:
    """Projected data and the auxiliary regressions of the concentrated likelihood."""

    Xt: np.ndarray
    b0: np.ndarray
    bl: np.ndarray  # (k, C)
    gram: np.ndarray  # (C+1, C+1) cross products of [e0, e_1..e_C]
    e0: np.ndarray
    el: np.ndarray  # (n, C)
    wy: np.ndarray  # (n, C) raw W_c y
    qwy: np.ndarray  # (n, C) projected W_c y


def _parts(design: Design) -> _Parts:
    Q = design.projector
    wy = np.column_stack([design.lag(c, design.y) for c in design.channels])
    Xt = Q(design.X)
    check_collinearity(Xt, design.names, design.model_id)
    yt = Q(np.column_stack([design.y, wy]))
    if np.allclose(yt[:, 0], 0, atol=1e-12 * max(1.0, np.abs(design.y).max())):
        raise EstimationError(f"model {design.model_id!r}: the outcome is constant within the fixed effects")
    coef, *_ = np.linalg.lstsq(Xt, yt, rcond=None) if Xt.shape[1] else (np.zeros((0, yt.shape[1])),)
    resid = yt - Xt @ coef
    return _Parts(Xt=Xt, b0=coef[:, 0], bl=coef[:, 1:], gram=resid.T @ resid, e0=resid[:, 0], el=resid[:, 1:],
                  wy=wy, qwy=yt[:, 1:])


def _ssr(gram: np.ndarray, rho: np.ndarray) -> float:
    v = np.concatenate([[1.0], -np.asarray(rho, dtype=float)])
    return float(v @ gram @ v)


def _maximise(design: Design, parts: _Parts, corr: Correction
              ) -> tuple[np.ndarray, float, bool, str, list[tuple[float, float]]]:
    """Maximise the concentrated log-likelihood; returns rho, log-Jacobian at rho, converged, message, bounds.

    One channel: a bounded scalar search on the eigenvalue log-Jacobian. Several: Newton steps on the analytic
    gradient and Hessian (one LU and one inverse per distinct year and step), started from the one-channel
    maxima of each rho with the others at 0 (cheap: eigenvalues); if that fails (Hessian not positive definite
    on the way, or no convergence in 20 steps), a bounded quasi-Newton search from 0 followed by Newton steps.
    """
    n, T = corr.n_loglik, corr.jacobian_periods
    bounds = [rho_bounds([s.lam for s in _spectra(design, c)]) for c in design.channels]

    def one_channel(c: int) -> optimize.OptimizeResult:
        logdet = _EigLogDet([s.lam for s in _spectra(design, design.channels[c])])
        gram = parts.gram[np.ix_([0, c + 1], [0, c + 1])]

        def negll(r: float) -> float:
            return 0.5 * n * np.log(_ssr(gram, [r]) / n) - logdet(r) + (T * np.log(1 - r) if T else 0.0)

        res = optimize.minimize_scalar(negll, bounds=bounds[c], method="bounded", options={"xatol": 1e-10})
        res.logdet = logdet(res.x)
        return res

    if len(design.channels) == 1:
        res = one_channel(0)
        rho = np.array([res.x])
        msg = "" if res.success else str(res.message)
        near = at_bound(res.x, bounds[0])
        if near:
            msg = (msg + "; " if msg else "") + "rho at the boundary of the admissible interval"
        return rho, res.logdet, bool(res.success) and not near, msg, bounds
    jac = _LUJacobian.of(design)

    def evaluate(r: np.ndarray, order: int = 2) -> tuple[float, np.ndarray, np.ndarray]:
        """Minus the concentrated log-likelihood, its gradient and Hessian (``order``: as many as needed)."""
        ld, g, h, ok = jac.derivatives(r, order)
        if not ok or (T and r.sum() >= 1):  # outside the invertible region around 0: a wall pushing back to 0
            return 1e12 * (1.0 + r @ r), 2e12 * r, 2e12 * np.eye(len(r))
        ssr = _ssr(parts.gram, r)
        dssr = -2 * (parts.gram[1:, 0] - parts.gram[1:, 1:] @ r)
        f, grad = 0.5 * n * np.log(ssr / n) - ld, 0.5 * n * dssr / ssr - g
        hess = 0.5 * n * (2 * parts.gram[1:, 1:] / ssr - np.outer(dssr, dssr) / ssr**2) - h
        if T:
            f, grad, hess = f + T * np.log(1 - r.sum()), grad - T / (1 - r.sum()), hess - T / (1 - r.sum()) ** 2
        return f, grad, hess

    start = np.array([one_channel(c).x for c in range(len(design.channels))])
    rho, step = _newton(evaluate, start, bounds, iters=20)
    message = ""
    if not step < 1e-8:
        res = optimize.minimize(lambda r: evaluate(r, 1)[:2], np.zeros(len(design.channels)), jac=True,
                                method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500})
        rho, step = _newton(evaluate, np.asarray(res.x, dtype=float), bounds)
        message = str(res.message)
    ld, _, _, ok = jac.derivatives(rho, 0)
    converged = ok and step < 1e-8
    msg = "" if converged else f"no convergence ({message}; last Newton step {step:.1e})"
    if any(at_bound(r, b) for r, b in zip(rho, bounds, strict=True)):
        converged, msg = False, (msg + "; " if msg else "") + "a rho at the boundary of its admissible interval"
    return rho, ld, converged, msg, bounds


def _newton(evaluate, x: np.ndarray, bounds: list[tuple[float, float]], iters: int = 4
            ) -> tuple[np.ndarray, float]:
    """Newton steps on the concentrated likelihood (``evaluate(x, order)``: value, gradient, Hessian).

    A step is halved (up to 30 times) while it raises the objective by more than 1e-9 relative (so steps at
    machine precision are taken). Stops when a step moves rho by less than 1e-10. Returns the point and the size
    of the last step (inf when the Hessian is not positive definite or no step lowers the objective).
    """
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    step_size = np.inf
    f0, g, H = evaluate(x)
    for _ in range(iters):
        H = (H + H.T) / 2
        if np.any(np.linalg.eigvalsh(H) <= 0):
            return x, np.inf
        step = np.linalg.solve(H, g)
        for _ in range(30):
            x_new = np.clip(x - step, lo, hi)
            f1, g1, H1 = evaluate(x_new)
            if f1 <= f0 + 1e-9 * max(1.0, abs(f0)):
                break
            step = step / 2
        else:
            return x, np.inf
        step_size = float(np.max(np.abs(x_new - x)))
        x, f0, g, H = x_new, f1, g1, H1
        if step_size < 1e-10:
            break
    return x, step_size


def _per_year_g(design: Design, rho: np.ndarray) -> list[list[np.ndarray]]:
    """``G_ct = W_ct (I - sum rho W_t)^-1`` per year (dense, computed once per distinct year)."""
    groups, index = _year_groups(design)
    gs = [[sp.csr_array(m) @ ainv for m in mats]
          for (mats, _), ainv in zip(groups, year_inverses(design, rho), strict=True)]
    return [gs[g] for g in index]


def _dummy_slots(design: Design) -> list[list[np.ndarray]]:
    """Per year, the dummy columns each row loads on: one array per effect (unit and/or year), row by row."""
    Q = design.projector
    codes_u = np.unique(design.sample["ccode"].to_numpy(), return_inverse=True)[1]
    codes_t = np.unique(design.sample["year"].to_numpy(), return_inverse=True)[1]
    n_units = int(codes_u.max()) + 1
    slots = []
    for blk in design.blocks:
        cols = []
        if Q.effects in ("unit", "twoway"):
            cols.append(codes_u[blk])
        if Q.effects in ("time", "twoway"):
            cols.append(codes_t[blk] + (n_units if Q.effects == "twoway" else 0))
        slots.append(cols)
    return slots


def _dtd_scatter(out: np.ndarray, slots: list[np.ndarray], m: np.ndarray) -> None:
    """``out += D_t' m D_t`` for one year's block ``m`` (D_t: the year's rows of the dummy matrix).

    A unit slot holds distinct columns (each state once a year), a year slot one column repeated."""
    for a in slots:
        for b in slots:
            a_one, b_one = a[0] == a[-1] and len(a) > 1 or len(a) == 1, b[0] == b[-1] and len(b) > 1 or len(b) == 1
            if a_one and b_one:
                out[a[0], b[0]] += m.sum()
            elif a_one:
                out[a[0], b] += m.sum(axis=0)
            elif b_one:
                out[a, b[0]] += m.sum(axis=1)
            else:
                out[np.ix_(a, b)] += m


def _traces(design: Design, gs: list[list[np.ndarray]], projected: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``tr(QG_c)``, ``tr(G_c'QG_d)``, ``tr(QG_cQG_d)`` summed over years (``Q = I`` when not ``projected``).

    With ``P = I - Q = D M D'`` (``M = (D'D)^-``), whose diagonal block of year ``t`` is ``P_t = D_t M D_t'``:
    ``tr(PG_c) = sum_t <P_t, G_ct'>``, ``tr(G_c'PG_d) = sum_t <P_t G_dt, G_ct>``, ``tr(PG_cG_d) = sum_t
    <P_t G_ct, G_dt'>`` (one dense product ``P_t G_ct`` per year and channel), and ``tr(PG_cPG_d) = tr(M a_c M
    a_d)`` with ``a_c = D'G_cD`` a scatter-add of the years' blocks.
    """
    C = len(design.channels)
    tr_g = np.zeros(C)
    tr_gtg = np.zeros((C, C))
    tr_gg = np.zeros((C, C))
    for g in gs:
        for c in range(C):
            tr_g[c] += np.trace(g[c])
            for d in range(C):
                tr_gg[c, d] += np.sum(g[c] * g[d].T)
                tr_gtg[c, d] += np.sum(g[c] * g[d])
    if not projected or design.projector.D is None:
        return tr_g, tr_gtg, tr_gg
    M = design.projector._dtd_pinv
    a = np.zeros((C, M.shape[0], M.shape[0]))  # D'G_cD
    for slots, g in zip(_dummy_slots(design), gs, strict=True):
        p_t = sum(M[np.ix_(u, v)] for u in slots for v in slots)  # D_t M D_t'
        pg = [p_t @ g[c] for c in range(C)]
        for c in range(C):
            _dtd_scatter(a[c], slots, g[c])
            tr_g[c] -= np.sum(p_t * g[c].T)
            for d in range(C):
                tr_gtg[c, d] -= np.sum(pg[d] * g[c])
                # tr(QG_cQG_d) = tr(G_cG_d) - tr(PG_cG_d) - tr(PG_dG_c) + tr(PG_cPG_d)
                tr_gg[c, d] -= np.sum(pg[c] * g[d].T) + np.sum(pg[d] * g[c].T)
    ma = [M @ a[c] for c in range(C)]
    for c in range(C):
        for d in range(C):
            tr_gg[c, d] += np.sum(ma[c] * ma[d].T)
    return tr_g, tr_gtg, tr_gg


def _information(
    design: Design, parts: _Parts, rho: np.ndarray, mu: np.ndarray, sigma2: float, corr: Correction,
) -> np.ndarray:
    """Information matrix of (beta, rho_1..rho_C, sigma2) with the fixed effects concentrated out
    (traces after the projection when ``corr.projected``; see the module docstring)."""
    C = len(design.channels)
    k = parts.Xt.shape[1]
    gs = _per_year_g(design, rho)
    gmu = np.zeros((design.n_obs, C))
    for blk, g in zip(design.blocks, gs, strict=True):
        for c in range(C):
            gmu[blk, c] = g[c] @ mu[blk]
    tr_g, tr_gtg, tr_gg = _traces(design, gs, corr.projected)
    qgmu = design.projector(gmu)
    info = np.zeros((k + C + 1, k + C + 1))
    info[:k, :k] = parts.Xt.T @ parts.Xt / sigma2
    info[:k, k:k + C] = parts.Xt.T @ qgmu / sigma2
    info[k:k + C, :k] = info[:k, k:k + C].T
    info[k:k + C, k:k + C] = tr_gg + tr_gtg + gmu.T @ qgmu / sigma2
    info[k:k + C, -1] = info[-1, k:k + C] = tr_g / sigma2
    info[-1, -1] = corr.dof / (2 * sigma2**2)
    return info


def _observed_information(design: Design, parts: _Parts, rho: np.ndarray, resid: np.ndarray,
                          sigma2: float) -> np.ndarray:
    """Minus the analytical Hessian of the log-likelihood in (beta, rho_1..rho_C, sigma2) (observed information,
    fixed effects concentrated out)."""
    C = len(design.channels)
    k = parts.Xt.shape[1]
    tr_gg = np.zeros((C, C))
    for g in _per_year_g(design, rho):
        for c in range(C):
            for d in range(C):
                tr_gg[c, d] += np.sum(g[c] * g[d].T)
    n = design.n_obs
    info = np.zeros((k + C + 1, k + C + 1))
    info[:k, :k] = parts.Xt.T @ parts.Xt / sigma2
    info[:k, k:k + C] = parts.Xt.T @ parts.qwy / sigma2
    info[k:k + C, :k] = info[:k, k:k + C].T
    info[k:k + C, k:k + C] = tr_gg + parts.qwy.T @ parts.qwy / sigma2
    info[:k, -1] = info[-1, :k] = parts.Xt.T @ resid / sigma2**2
    info[k:k + C, -1] = info[-1, k:k + C] = parts.qwy.T @ resid / sigma2**2
    info[-1, -1] = -n / (2 * sigma2**2) + resid @ resid / sigma2**3
    return info


def linear_quadratic_covariance(a: np.ndarray, B: list[np.ndarray | None], var: np.ndarray, mu3: np.ndarray,
                                mu4: np.ndarray) -> np.ndarray:
    """Covariance matrix of the forms ``q_k = a_k'e + e'B_k e`` in independent errors with zero means.

    ``Cov(q_k, q_l) = sum_i a_ki a_li s_i^2 + sum_i (a_ki b^l_ii + a_li b^k_ii) mu3_i
    + sum_{i != j} (b^k_ij b^l_ij + b^k_ij b^l_ji) s_i^2 s_j^2 + sum_i b^k_ii b^l_ii (mu4_i - s_i^4)``
    (Kelejian & Prucha 2001, Lemma A.1; Lin & Lee 2010); equivalently the full double sum plus
    ``sum_i b^k_ii b^l_ii (mu4_i - 3 s_i^4)``.

    Parameters
    ----------
    a : ndarray (n, m)
        The linear coefficients, one column per form.
    B : list of m (n, n) arrays or ``None``
        The quadratic coefficients (``None``: a linear form).
    var, mu3, mu4 : ndarray (n,)
        Each error's variance, third and fourth moments.
    """
    m = a.shape[1]
    v = np.asarray(var, dtype=float)
    cov = (a * v[:, None]).T @ a
    diag = [None if b is None else np.diag(b).copy() for b in B]
    kurt = mu4 - 3 * v**2
    for k in range(m):
        if B[k] is None:
            continue
        bk_v = B[k] * v[:, None]
        bk_v *= v[None, :]  # b^k_ij s_i^2 s_j^2
        for ell in range(m):
            cov[k, ell] += a[:, ell] @ (diag[k] * mu3)
            cov[ell, k] += a[:, ell] @ (diag[k] * mu3)
            if B[ell] is None or ell < k:
                continue
            q = (np.einsum("ij,ij->", bk_v, B[ell]) + np.einsum("ij,ji->", bk_v, B[ell])
                 + np.sum(diag[k] * diag[ell] * kurt))  # einsum: no n x n temporaries
            cov[k, ell] += q
            if ell != k:
                cov[ell, k] += q
    return cov


def score_forms(design: Design, Xt: np.ndarray, rho: np.ndarray, mu: np.ndarray, sigma2: float
                ) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The score of (beta, rho_1..rho_C, sigma2) as linear-quadratic forms ``a_k'e + e'B_k e`` in the errors.

    ``beta``: ``a = QX / s2``; ``rho_c``: ``a = QG_c mu / s2``, ``B = G_c'Q / s2``; ``sigma2``: ``B = Q / (2 s2^2)``
    (``mu = X beta + D alpha``, ``G_c = W_c (I - sum_d rho_d W_d)^-1``, year by year; the constants that centre
    each form do not matter for its variance).

    Returns
    -------
    (ndarray (n, k + C + 1), list)
        The linear coefficients and the quadratic ones (``None`` for the betas).
    """
    n, C, k = design.n_obs, len(design.channels), Xt.shape[1]
    gs = _per_year_g(design, rho)
    gmu = np.zeros((n, C))
    B: list[np.ndarray | None] = [None] * k
    for c in range(C):
        g_full = np.zeros((n, n))
        for blk, g in zip(design.blocks, gs, strict=True):
            g_full[blk, blk] = g[c]
            gmu[blk, c] = g[c] @ mu[blk]
        B.append(design.projector(g_full).T / sigma2)  # (Q G_c)' = G_c'Q
        del g_full
    B.append(design.projector(np.eye(n)) / (2 * sigma2**2))
    a = np.column_stack([Xt / sigma2, design.projector(gmu) / sigma2, np.zeros(n)])
    return a, B


def _leverage(design: Design, Z: np.ndarray) -> np.ndarray:
    """Diagonal of the hat matrix of ``[D, Z]`` for ``Z`` already projected (orthogonal to the dummies ``D``):
    ``diag(D (D'D)^- D') + diag(Z (Z'Z)^-1 Z')``."""
    Q = design.projector
    h = np.einsum("ij,ij->i", Z @ np.linalg.pinv(Z.T @ Z), Z)
    if Q.D is not None:
        h += np.einsum("ij,ij->i", np.asarray(Q.D @ Q._dtd_pinv), Q.D.toarray())
    return h


def robust_covariance(design: Design, parts: _Parts, rho: np.ndarray, mu: np.ndarray, resid: np.ndarray,
                      sigma2: float, info: np.ndarray) -> tuple[np.ndarray, str]:
    """Heteroskedasticity-robust (QML sandwich) covariance of (beta, rho_1..rho_C, sigma2): ``H^-1 V H^-1``.

    ``V`` is :func:`linear_quadratic_covariance` of the score's forms (:func:`score_forms`) with plug-ins from the
    residuals ``r = Qe``: ``s_i^2 = r_i^2 / (1 - h_ii)``, ``h_ii`` the leverage of the fixed effects, ``QX`` and
    ``QG_c mu`` (the directions the residuals are orthogonal to; HC2, MacKinnon & White 1985: unbiased for a
    homoskedastic linear regression, and ``sum_i (1 - h_ii) = n - p - k - C`` generalises the dof correction of
    sigma2); ``s_i^2 s_j^2`` for the pairs ``i != j``; ``mu3_i = sign(r_i) s_i^3``; for the fourth moments
    ``mu4_i - s_i^4 = (1 - 1/kappa) s_i^4``, ``kappa = n sum s_i^4 / (sum s_i^2)^2`` the pooled kurtosis (exact in
    expectation for normal homoskedastic errors; conservative under heteroskedasticity, which inflates the pooled
    kurtosis). The fourth moments enter beta and rho through ``diag(G'Q - tr(QG)/dof Q)`` (the rho score net of
    its projection on the sigma2 score), about 0 when ``diag(G)`` is nearly constant and small beside the pairs'
    sum otherwise, so this choice matters little for beta and rho (benchmarks/README.md: 0.05% on a kNN design).
    ``H`` is ``info``, the information of the classical s.e.: consistent for the expected Hessian when the
    variances are unrelated to ``diag(G'QG)`` and ``diag(QG)``, the same condition (Lin & Lee 2010) under which
    the ML estimator is consistent.

    Memory: dense ``n x n`` matrices (``Q``, ``QG_c`` per channel).

    Returns
    -------
    (ndarray, str)
        The covariance and a note for fit.json.
    """
    n = design.n_obs
    a, B = score_forms(design, parts.Xt, rho, mu, sigma2)
    keep = 1 - _leverage(design, np.column_stack([parts.Xt, a[:, parts.Xt.shape[1]:-1]]))
    s2 = np.divide(resid**2, keep, out=np.zeros(n), where=keep > 1e-10)  # h_ii = 1: a residual fixed at 0
    kappa = n * np.sum(s2**2) / np.sum(s2) ** 2
    V = linear_quadratic_covariance(a, B, s2, np.sign(resid) * s2**1.5, (2 - 1 / kappa) * s2**2)
    hinv = np.linalg.inv(info)
    cov = hinv @ V @ hinv
    note = ("standard errors: heteroskedasticity-robust QML sandwich H^-1 V H^-1 (V: variance of the "
            "linear-quadratic score under independent heteroskedastic errors, Kelejian & Prucha 2001 / Lin & Lee "
            f"2010, HC2 residual plug-ins r_i^2/(1-h_ii), pooled residual kurtosis {kappa:.3g}); valid only where "
            "ML is consistent under heteroskedasticity, i.e. when the error variances are unrelated to diag(G) "
            "(e.g. row-standardised W with equal numbers of neighbours; Lin & Lee 2010)")
    return cov, note


@dataclass(frozen=True)
class Correction:
    """How fixed effects enter the likelihood and the inference of one fit (see the module docstring).

    ``time_transform``: maximise the time-demeaned (transformed) likelihood, ``n_loglik`` its number of
    observations, ``jacobian_periods`` the ``T`` of its ``- T log(1 - sum rho)`` term; ``dof``: the
    denominator of sigma2; ``projected``: information traces taken after the projection; ``lee_yu``: the case is
    one Lee & Yu (2010) treat exactly; ``note``: what was done, for fit.json.
    """

    time_transform: bool
    n_loglik: float
    jacobian_periods: int
    dof: float
    projected: bool
    lee_yu: bool
    note: str


def _row_standardised(design: Design) -> bool:
    return all(np.allclose(np.asarray(w.sum(axis=1)).ravel(), 1.0, atol=1e-10)
               for c in design.channels for w in design.weights[c])


def correction(design: Design, lee_yu: bool = True) -> Correction:
    """The fixed-effects correction that applies to ``design`` (``lee_yu=False``: none, the direct approach)."""
    n, p, T = design.n_obs, design.projector.n_effects, design.n_periods
    if design.effects == "none":
        return Correction(False, n, 0, n, False, False, "no fixed effects: sigma2 = e'e/n (ML)")
    if not lee_yu:
        return Correction(False, n, 0, n, False, False,
                          "fixed effects by the direct approach without correction (lee_yu: false): "
                          "sigma2 = e'Qe/n, untransformed information")
    if n - p <= 0:
        raise EstimationError(f"model {design.model_id!r}: no residual degrees of freedom with the fixed effects")
    rowstd = _row_standardised(design)
    time_tf = design.effects in ("time", "twoway") and rowstd
    exact = (design.balanced and rowstd and T > 1 and all(design.fixed_weights(c) for c in design.channels))
    parts = []
    if time_tf:
        parts.append(f"time effects by the Lee-Yu (2010) transformation (likelihood of the time-demeaned data, "
                     f"-{T} log(1 - sum rho))")
    elif design.effects in ("time", "twoway"):
        parts.append("time effects by the direct approach (some W rows do not sum to one, e.g. islands: the "
                     "Lee-Yu transformation does not hold)")
    what = ("the Lee & Yu (2010) transformation approach (balanced, W fixed and row-standardised)" if exact else
            "a degrees-of-freedom correction (Lee & Yu's transformation approach does not hold: "
            + ("unbalanced panel" if not design.balanced else "W varies over years" if rowstd else
               "W not row-standardised") + ")")
    parts.append(f"sigma2 = e'Qe/(n - {p}) and information with every trace taken after the fixed-effects "
                 f"projection: {what}")
    return Correction(time_tf, n - T if time_tf else n, T if time_tf else 0, n - p, True, exact, "; ".join(parts))


def stability(design: Design, rho: np.ndarray, tau: float, eta: np.ndarray) -> dict[str, object]:
    """Spectral stability of the dynamic model, per year.

    The largest eigenvalue modulus of ``(I - sum_c rho_c W_ct)^-1 (tau I + sum_c eta_c W_ct)`` must be below 1.
    """
    radii = []
    for t in range(design.n_periods):
        mats = [design.weights[c][t].toarray() for c in design.channels]
        n = mats[0].shape[0]
        a = np.eye(n) - sum(r * m for r, m in zip(rho, mats, strict=True))
        b = tau * np.eye(n) + sum(e * m for e, m in zip(eta, mats, strict=True))
        radii.append(float(np.abs(np.linalg.eigvals(np.linalg.solve(a, b))).max()))
    radii_arr = np.asarray(radii)
    unstable = [int(y) for y, r in zip(design.years, radii_arr, strict=True) if r >= 1]
    return {"max_modulus": float(radii_arr.max()), "stable": not unstable, "unstable_years": unstable}


def fit_sar_ml(design: Design, *, estimator: str = "sar_ml", lee_yu: bool = True,
               dynamic: bool = False, information: str = "expected", se: str = "classical") -> Estimate:
    """Fit a SAR (or, with ``W_<channel>_<x>`` columns in the design, SDM) panel by maximum likelihood.

    Parameters
    ----------
    design : Design
        From :func:`interdep.models.design.build_design`; one or more channels.
    estimator : str
        Name recorded in the result (``sar_ml`` or ``sdm_ml``).
    lee_yu : bool
        With fixed effects: the Lee-Yu (2010) time transformation where it holds, sigma2 = e'Qe/(n - p) and
        the projected information (module docstring); ``False``: the uncorrected direct approach.
    dynamic : bool
        The design holds ``<outcome>_lag1`` / ``W_<channel>_<outcome>_lag1``; report the stability check.
    information : {"expected", "observed"}
        Covariance from the analytical expected information (default; Anselin 1988 / Lee 2004, as spreg and R
        spatialreg) or from the analytical observed information (minus the Hessian at the estimate; no Lee-Yu
        adjustment).
    se : {"classical", "robust"}
        ``classical``: the inverse information; ``robust``: the heteroskedasticity-robust QML sandwich
        (:func:`robust_covariance`; valid where ML is consistent, see the module docstring).

    Returns
    -------
    Estimate
        Terms: the design's columns, then ``rho_<channel>``. ``diagnostics`` holds ``sigma2_ml`` (uncorrected),
        ``rho_bounds``, ``lee_yu`` (bool: a case Lee & Yu treat exactly), ``fixed_effects_correction`` (what
        was done), ``log_likelihood_transformed`` (the maximised time-demeaned likelihood, when used), ``notes``,
        ``se`` (the kind of standard errors) and, for dynamic models, ``stability``. ``log_likelihood`` is always
        the direct-approach (dummy-variable) log-likelihood at the estimates, comparable across models and with
        spatialreg / spreg.
    """
    with single_thread_blas():
        return _fit_sar_ml(design, estimator=estimator, lee_yu=lee_yu, dynamic=dynamic, information=information,
                           se=se)


def _fit_sar_ml(design: Design, *, estimator: str, lee_yu: bool, dynamic: bool, information: str,
                se: str) -> Estimate:
    t0 = time.perf_counter()
    if se not in SE_TYPES:
        raise ValueError(CLUSTER_REFUSAL if se == "cluster" else
                         f"se must be one of {', '.join(SE_TYPES)}, not {se!r}")
    if not design.channels:
        raise EstimationError(f"model {design.model_id!r}: {estimator} needs at least one weights channel")
    parts = _parts(design)
    corr = correction(design, lee_yu)
    rho, logdet, converged, message, bounds = _maximise(design, parts, corr)
    n = design.n_obs
    beta = parts.b0 - parts.bl @ rho
    resid = parts.e0 - parts.el @ rho
    ssr = float(resid @ resid)
    sigma2_ml = ssr / n
    loglik = -0.5 * n * (np.log(2 * np.pi) + 1 + np.log(sigma2_ml)) + logdet
    mu = design.y - parts.wy @ rho - resid
    sigma2 = ssr / corr.dof
    if information == "observed":
        info = _observed_information(design, parts, rho, resid, sigma2_ml)
    elif information == "expected":
        info = _information(design, parts, rho, mu, sigma2, corr)
    else:
        raise ValueError(f"information must be 'expected' or 'observed', not {information!r}")
    try:
        cov_full = np.linalg.inv(info)
    except np.linalg.LinAlgError as err:
        raise EstimationError(f"model {design.model_id!r}: singular information matrix") from err
    se_note = None
    if se == "robust":
        cov_full, se_note = robust_covariance(design, parts, rho, mu, resid,
                                              sigma2 if information == "expected" else sigma2_ml, info)
    k = len(beta)
    terms = list(design.names) + [f"rho_{c}" for c in design.channels]
    diagnostics: dict[str, object] = {
        "sigma2_ml": sigma2_ml,
        "rho_bounds": {c: list(b) for c, b in zip(design.channels, bounds, strict=True)},
        "lee_yu": corr.lee_yu,
        "fixed_effects_correction": corr.note,
        "notes": [corr.note] + ([se_note] if se_note else []),
        "se": se,
        "seconds_estimation": time.perf_counter() - t0,
    }
    if corr.time_transform:
        nt = corr.n_loglik
        diagnostics["log_likelihood_transformed"] = float(
            -0.5 * nt * (np.log(2 * np.pi) + 1 + np.log(ssr / nt)) + logdet
            - corr.jacobian_periods * np.log(1 - rho.sum()))
    if dynamic:
        ylag = _outcome_lag(design.names)
        tau = beta[design.names.index(ylag)]
        eta = np.array([beta[design.names.index(f"W_{c}_{ylag}")] for c in design.channels])
        diagnostics["stability"] = stability(design, rho, tau, eta)
        if design.effects in ("unit", "twoway"):
            diagnostics["notes"].append(
                "dynamic model with unit effects: the lagged outcome coefficients carry an O(1/T) bias "
                "(Nickell 1981; Yu, de Jong & Lee 2008); no correction applied")
    return Estimate(
        estimator=estimator,
        terms=terms,
        params=np.concatenate([beta, rho]),
        cov=cov_full[: k + len(rho), : k + len(rho)],
        sigma2=float(sigma2),
        n_obs=n,
        log_likelihood=float(loglik),
        n_params_likelihood=k + len(rho),  # spreg's AIC convention: sigma2 not counted
        converged=converged,
        message=message,
        diagnostics=diagnostics,
    )


def _outcome_lag(names: list[str]) -> str:
    return next(nm for nm in names if nm.endswith("_lag1") and not nm.startswith("W_"))


def profile_log_likelihood(design: Design, rho_hat: np.ndarray, *, points: int = 41,
                           half_width: float = 0.3, lee_yu: bool = True) -> pd.DataFrame:
    """The log-likelihood concentrated in the betas and sigma2, along each channel's rho.

    It is the likelihood the estimator maximises: with the Lee-Yu time transformation (``lee_yu`` and time
    effects, see :func:`correction`) the time-demeaned one, so the profile peaks at the estimate.

    For one channel this is the profile log-likelihood; with several, each channel's rho moves while the others
    stay at their estimates (a slice through the maximum). The grid spans ``rho_hat +- half_width`` within the
    admissible interval.

    Returns
    -------
    pandas.DataFrame
        ``channel, rho, log_likelihood`` (``-inf`` where I - sum rho W is singular for some year).
    """
    with single_thread_blas():
        parts = _parts(design)
        corr = correction(design, lee_yu)
        n, T = corr.n_loglik, corr.jacobian_periods
        rows = []
        jac = _LUJacobian.of(design) if len(design.channels) > 1 else None
        logdet1 = _EigLogDet([s.lam for s in _spectra(design, design.channels[0])]) if jac is None else None
        for c, channel in enumerate(design.channels):
            lo, hi = rho_bounds([s.lam for s in _spectra(design, channel)])
            margin = 1e-3 * (hi - lo)
            grid = np.linspace(max(lo + margin, rho_hat[c] - half_width), min(hi - margin, rho_hat[c] + half_width),
                               points)
            for value in grid:
                rho = np.array(rho_hat, dtype=float)
                rho[c] = value
                logdet = logdet1(value) if logdet1 is not None else jac(rho, gradient=False)[0]
                ll = -0.5 * n * (np.log(2 * np.pi) + 1 + np.log(_ssr(parts.gram, rho) / n)) + logdet
                if T:
                    ll = ll - T * np.log(1 - rho.sum()) if rho.sum() < 1 else -np.inf
                rows.append((channel, float(value), float(ll)))
    return pd.DataFrame(rows, columns=["channel", "rho", "log_likelihood"])
