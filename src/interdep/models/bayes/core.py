"""The one Bayesian sampler core: pieces every MCMC estimator of the package is built from.

Model (stacked by year, one channel): ``A(rho) z = X beta + D alpha + e``, ``e ~ N(0, sigma2 I)``,
``A(rho) = I - rho W`` block-diagonal with one row-standardised ``W_t`` per year; ``D`` holds the unit and/or year
dummies of the design's effects. ``z`` is the (possibly partly latent) outcome.

Pieces (all reusable by other samplers, e.g. the convex-combination ``sar_conv``):

* :class:`LinearGibbs` - the Gibbs block of ``(beta, alpha, sigma2)`` given the filtered outcome ``v = A z``
  (flat prior on ``beta`` and on the effects ``alpha``, inverse-gamma or Jeffreys prior on ``sigma2``), and the
  residual maker ``M`` of ``[X, D]`` with which ``beta`` and ``alpha`` (and ``sigma2``) are integrated out of the
  conditional of ``rho``. The effects are parameters of the sampler: ``beta`` is drawn marginally over ``alpha``
  (Frisch-Waugh on the within-projected design), then ``D alpha`` given ``beta`` (its identified part:
  mean ``P_D (v - X beta)``, covariance ``sigma2 P_D``).
* :class:`LogDetGrid` - ``sum_t log|I - rho W_t|`` on a fine grid of the admissible interval, from the per-year
  eigenvalues that :mod:`interdep.models.panel_ml` computes (and caches) for the ML engine.
* :func:`griddy_draw` - an inverse-CDF draw from a log-density tabulated on a grid (piecewise-linear density).
* :func:`truncated_normal` / :func:`truncated_normal_draw` - exact draws from normals truncated to ``(-inf, 0]``,
  ``(0, inf)`` or not at all (compiled with numba: the latent sweeps draw row by row).
* :func:`run_chains` - the multi-chain runner: one :class:`Sampler` (initial state per chain from dispersed
  starts, one step, the parameter vector to record), independent seeded streams per chain
  (``numpy.random.SeedSequence(seed).spawn(chains)``), burn-in and thinning; returns :class:`Chains`.
* :func:`diagnostics` / :func:`convergence` - rank-normalised split R-hat, bulk and tail ESS (Vehtari et al.
  2021), batch-means Monte Carlo standard errors and Geweke z-scores, and the package's convergence rule
  (R-hat > 1.01 or smallest ESS < 400 -> not converged, with the reason).
* :func:`posterior_estimate` - posterior mean / sd / 95% equal-tailed interval as an :class:`Estimate`
  (coefficients.csv), and :func:`write_draws` (models/<id>/draws.parquet).

Why no arviz: the diagnostics are ~80 lines of numpy here (tested against the analytic ESS of AR(1) chains),
while arviz / arviz-stats would add a large dependency tree to the lock for three functions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special, stats

from interdep.errors import InputError
from interdep.models.design import Design, EffectsProjector, check_collinearity
from interdep.models.panel_ml import _spectra, rho_bounds, single_thread_blas
from interdep.models.result import COEFFICIENT_COLUMNS, Estimate

__all__ = [
    "MCMC_DEFAULTS", "PRIOR_DEFAULTS", "Chains", "LinearGibbs", "LogDetGrid", "PosteriorEstimate", "Sampler",
    "adjusted_log_jacobian", "compiled_seed", "convergence", "diagnostics", "effects_jacobian_weights", "griddy_draw",
    "latent_gibbs_sweep", "mcmc_settings", "posterior_estimate", "prior_settings", "run_chains", "truncated_normal",
    "truncated_normal_draw", "write_draws",
]

MCMC_DEFAULTS = {"draws": 5000, "burn_in": 1000, "chains": 2, "thin": 1, "seed": 20260101}
# sigma2 ~ IG(shape, rate) (0, 0 = Jeffreys 1/sigma2); rho ~ Beta(a, b) rescaled to the admissible interval
PRIOR_DEFAULTS = {"sigma2_shape": 0.0, "sigma2_rate": 0.0, "rho_a": 1.0, "rho_b": 1.0}
RHAT_MAX = 1.01
ESS_MIN = 400


def mcmc_settings(spec: Mapping[str, Any]) -> dict[str, int]:
    """The ``mcmc`` entry of a model spec completed with :data:`MCMC_DEFAULTS` (validated)."""
    given = dict(spec.get("mcmc") or {})
    unknown = sorted(set(given) - set(MCMC_DEFAULTS))
    if unknown:
        raise InputError(f"model {spec.get('id')!r}: unknown mcmc key(s) {', '.join(unknown)}", value=unknown)
    out = {**MCMC_DEFAULTS, **given}
    for key, value in out.items():
        low = 0 if key in ("burn_in", "seed") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InputError(f"model {spec.get('id')!r}: mcmc.{key} must be an integer >= {low}", value=value)
    return out


def prior_settings(spec: Mapping[str, Any]) -> dict[str, float]:
    """The ``priors`` entry of a model spec completed with :data:`PRIOR_DEFAULTS` (validated)."""
    given = dict(spec.get("priors") or {})
    unknown = sorted(set(given) - set(PRIOR_DEFAULTS))
    if unknown:
        raise InputError(f"model {spec.get('id')!r}: unknown prior key(s) {', '.join(unknown)}", value=unknown)
    out = {k: float(v) for k, v in {**PRIOR_DEFAULTS, **given}.items()}
    if out["sigma2_shape"] < 0 or out["sigma2_rate"] < 0 or out["rho_a"] <= 0 or out["rho_b"] <= 0:
        raise InputError(f"model {spec.get('id')!r}: priors need sigma2_shape, sigma2_rate >= 0 and "
                         "rho_a, rho_b > 0", value=given)
    return out


# ----------------------------------------------------------------------------------------- linear Gibbs block


class LinearGibbs:
    """Gibbs draws of ``beta``, the effects and ``sigma2`` in ``v = X beta + D alpha + e`` (flat priors on
    ``beta`` and ``alpha``; ``sigma2 ~ IG(shape, rate)``, default Jeffreys).

    Parameters
    ----------
    X : numpy.ndarray
        Regressors (n, k), untransformed (with ``const`` when the design has no effects).
    names : list of str
        Their names (for the collinearity message).
    projector : EffectsProjector
        The design's effects projector (``D`` and the exact within transformation).
    model_id : str
        For messages.
    """

    def __init__(self, X: np.ndarray, names: list[str], projector: EffectsProjector, model_id: str = ""):
        self.X = np.asarray(X, dtype=float)
        self.n, self.k = self.X.shape
        D = projector.D
        if D is not None:  # D as (row, column) index pairs: D'v and D a by bincount, far cheaper than sparse
            coo = sp.coo_array(D)
            self._d_rows, self._d_cols, self._m = coo.row, coo.col, D.shape[1]
            dtd = (D.T @ D).toarray()
            w, u = np.linalg.eigh(dtd)
            keep = w > 1e-10 * w.max()
            self.d_root = u[:, keep] / np.sqrt(w[keep])  # D d_root d_root' D' = P_D
            self._dtd_pinv = self.d_root @ self.d_root.T
        else:
            self.d_root = None
        self.Xt = self.project(self.X)
        check_collinearity(self.Xt, names, model_id)
        self.p = self.k + projector.n_effects  # parameters integrated out with beta
        if self.n - self.p <= 0:
            raise InputError(f"model {model_id!r}: no residual degrees of freedom with the fixed effects")
        self.xtx_inv = np.linalg.inv(self.Xt.T @ self.Xt)
        self.chol = np.linalg.cholesky(self.xtx_inv)
        self.proj = self.xtx_inv @ self.Xt.T  # (k, n): beta-hat of a projected outcome

    def _d_times(self, a: np.ndarray) -> np.ndarray:
        """``D a`` for a vector of effects."""
        return np.bincount(self._d_rows, weights=a[self._d_cols], minlength=self.n)

    def project(self, V: np.ndarray) -> np.ndarray:
        """``Q V``: ``V`` (n,) or (n, m) with the effects projected out (``Q = I - D (D'D)^+ D'``)."""
        V = np.asarray(V, dtype=float)
        if self.d_root is None:
            return V.copy()
        if V.ndim == 2:
            return np.column_stack([self.project(V[:, j]) for j in range(V.shape[1])])
        dtv = np.bincount(self._d_cols, weights=V[self._d_rows], minlength=self._m)
        return V - self._d_times(self._dtd_pinv @ dtv)

    @property
    def df(self) -> int:
        """Residual degrees of freedom ``n - k - rank(D)``."""
        return self.n - self.p

    def residual(self, V: np.ndarray) -> np.ndarray:
        """``M V``: residuals of ``V`` (n,) or (n, m) on ``[X, D]``."""
        r = self.project(V)
        return r - self.Xt @ (self.proj @ r)

    def draw(self, v: np.ndarray, rng: np.random.Generator, prior: Mapping[str, float],
             sigma2: float | None = None) -> tuple[np.ndarray, float, np.ndarray]:
        """One Gibbs draw given the filtered outcome ``v = A z``.

        ``sigma2`` given -> only ``beta`` and the effects are drawn (probit: ``sigma2 = 1``); ``None`` ->
        ``sigma2`` is drawn first from its conditional with ``beta`` and ``alpha`` integrated out,
        ``IG(shape + (n - p)/2, rate + SSR/2)``.

        Returns
        -------
        (beta, sigma2, mean)
            ``mean = X beta + D alpha`` (the effects enter only through it).
        """
        r = self.project(v)
        bhat = self.proj @ r
        if sigma2 is None:
            e = r - self.Xt @ bhat
            shape = prior["sigma2_shape"] + 0.5 * self.df
            rate = prior["sigma2_rate"] + 0.5 * float(e @ e)
            sigma2 = rate / rng.gamma(shape)
        sd = np.sqrt(sigma2)
        beta = bhat + sd * (self.chol @ rng.standard_normal(self.k))
        mean = self.X @ beta
        if self.d_root is not None:
            u = v - mean
            noise = self.d_root @ rng.standard_normal(self.d_root.shape[1])
            mean = mean + (u - self.project(u)) + sd * self._d_times(noise)
        return beta, float(sigma2), mean


# ----------------------------------------------------------------------------------------- rho on a grid


def effects_jacobian_weights(design: Design, channel: str,
                             projector: EffectsProjector | None = None) -> list[np.ndarray] | None:
    """Per year and eigenvalue, the weight ``pi_tk = (V_t^-1 P_tt V_t)_kk`` the fixed effects take from the Jacobian.

    ``P_tt`` is year ``t``'s diagonal block of the projection ``P_D`` on the effects' dummies and
    ``W_t = V_t diag(lambda_t) V_t^-1``. Integrating the effects out under flat priors leaves ``rho``'s
    conditional with the full ``log|A(rho)|`` while the quadratic form loses ``p`` degrees of freedom; its score
    is then off by ``-tr(P_D G(rho))`` (``G = W A^-1``), a pull towards 0 of order ``p / n``. The adjusted
    log-Jacobian ``sum_tk (1 - pi_tk) log(1 - rho lambda_tk) = log|A| - tr(P_D log A)`` has exactly that
    derivative removed. In the cases Lee & Yu (2010) treat (balanced, one row-standardised ``W``) it is their
    transformed Jacobian: ``(T-1) log|I - rho W|`` (unit), ``T (log|I - rho W| - log(1 - rho))`` (time),
    ``(T-1) (log|I - rho W| - log(1 - rho))`` (two-way); for time effects with any row-standardised ``W_t`` it is
    the flat prior on the year means of the reduced form. ``None`` without effects, or when a year's ``W`` has no
    eigenvector basis (defective: the unadjusted Jacobian is used, with a note). ``projector``: the effects with
    flat priors when they are not the design's (correlated random unit effects keep only the year dummies).
    """
    proj = design.projector if projector is None else projector
    if proj.D is None:
        return None
    spectra = _spectra(design, channel, vectors=True)
    if any(s.V is None for s in spectra):
        return None
    out = []
    for blk, s in zip(design.blocks, spectra, strict=True):
        d_t = proj.D[blk].toarray()
        p_tt = d_t @ proj._dtd_pinv @ d_t.T
        out.append(np.einsum("ki,ij,jk->k", s.Vinv, p_tt, s.V))
    return out


def adjusted_log_jacobian(lams: list[np.ndarray], weights: list[np.ndarray] | None,
                          rho: np.ndarray) -> np.ndarray:
    """``sum_tk (1 - pi_tk) log(1 - rho lambda_tk)`` on a vector of ``rho`` (``weights=None``: ``log|A(rho)|``).

    Complex eigenvalues come in conjugate pairs with conjugate weights; the principal logarithm is used and the
    real part returned (``tr((I - P_tt) log A_t)`` is real).
    """
    rho = np.atleast_1d(np.asarray(rho, dtype=float))
    out = np.zeros(len(rho))
    for t, lam in enumerate(lams):
        w = np.ones(len(lam)) if weights is None else 1.0 - weights[t]
        for start in range(0, len(rho), 200):  # chunks keep the (points, n_t) temporary small
            g = rho[start:start + 200, None]
            if np.iscomplexobj(lam) or np.iscomplexobj(w):
                val = np.real(np.log(1.0 - g * lam[None, :].astype(complex)) @ np.asarray(w, dtype=complex))
            else:
                val = np.log(np.abs(1.0 - g * lam[None, :])) @ w
            out[start:start + 200] += val
    return out


@dataclass
class LogDetGrid:
    """The log-Jacobian of ``rho`` (adjusted for fixed effects) and its log prior on a grid of the admissible interval.

    Attributes
    ----------
    grid : numpy.ndarray
        Grid points strictly inside ``bounds``.
    logdet : numpy.ndarray
        Log-Jacobian at each point, exact from the eigenvalues of every year's ``W``: ``sum_t log|I - rho W_t|``,
        or with fixed effects the adjusted ``sum_tk (1 - pi_tk) log(1 - rho lambda_tk)`` of
        :func:`effects_jacobian_weights`.
    log_prior : numpy.ndarray
        ``log Beta(a, b)`` density of ``(rho - lo) / (hi - lo)``.
    bounds : (float, float)
        The admissible interval ``(1/lambda_min, 1/lambda_max)``.
    note : str
        How the Jacobian treats the fixed effects (for fit.json).
    """

    grid: np.ndarray
    logdet: np.ndarray
    log_prior: np.ndarray
    bounds: tuple[float, float]
    note: str = ""

    @classmethod
    def from_design(cls, design: Design, channel: str, prior: Mapping[str, float], points: int = 2001,
                    adjust: bool = True, projector: EffectsProjector | None = None) -> LogDetGrid:
        """Tabulate for one channel of a design (eigen-decompositions shared with the ML engine's cache).

        ``adjust=False`` keeps the plain ``sum_t log|I - rho W_t|`` also with fixed effects; ``projector``: the
        flat-prior effects when they are not the design's.
        """
        lams = [s.lam for s in _spectra(design, channel)]
        lo, hi = rho_bounds(lams)
        lo, hi = max(lo, -10.0), min(hi, 10.0)
        u = (np.arange(points) + 0.5) / points
        grid = lo + (hi - lo) * u
        weights = effects_jacobian_weights(design, channel, projector) if adjust else None
        flat_effects = (design.projector if projector is None else projector).D is not None
        if weights is not None:
            lams = [s.lam for s in _spectra(design, channel, vectors=True)]
        logdet = adjusted_log_jacobian(lams, weights, grid)
        log_prior = stats.beta.logpdf(u, prior["rho_a"], prior["rho_b"]) - np.log(hi - lo)
        if not flat_effects:
            note = "log-Jacobian sum_t log|I - rho W_t| (no fixed effects)"
        elif weights is None:
            note = ("log-Jacobian not adjusted for the fixed effects" + (" (adjust: false)" if not adjust else
                    " (a year's W has no eigenvector basis)") + ": rho is pulled towards 0 by O(p/n)")
        else:
            note = ("log-Jacobian adjusted for the fixed effects, log|A| - tr(P_D log A) (removes the O(p/n) pull "
                    "of integrating the effects out; Lee & Yu's transformed Jacobian in the balanced fixed-W case)")
        return cls(grid, logdet, log_prior, (float(lo), float(hi)), note)


def griddy_draw(grid: np.ndarray, log_density: np.ndarray, rng: np.random.Generator) -> float:
    """One draw from the density tabulated (up to a constant) on an increasing ``grid``, linear between points.

    Inverse CDF of the trapezoid-integrated density, linear inside the chosen cell (exact for a piecewise-linear
    density up to the within-cell quadratic term; the grid of :class:`LogDetGrid` has 2,001 points).
    """
    dens = np.exp(log_density - log_density.max())
    cells = (dens[1:] + dens[:-1]) * (grid[1:] - grid[:-1])  # twice the trapezoid areas
    cdf = np.cumsum(cells)
    u = rng.uniform() * cdf[-1]
    i = min(int(np.searchsorted(cdf, u, side="right")), len(cells) - 1)  # the cell: cdf[i-1] <= u < cdf[i]
    below = cdf[i - 1] if i > 0 else 0.0
    frac = (u - below) / cells[i] if cells[i] > 0 else 0.5
    return float(grid[i] + frac * (grid[i + 1] - grid[i]))


# ----------------------------------------------------------------------------------------- truncated normals


@numba.njit(cache=True)
def _upper_tail(a: float) -> float:
    """One draw of ``x ~ N(0, 1)`` truncated to ``x > a``, exact by rejection: from the normal itself when
    ``a < 0.25`` (acceptance >= 0.40), otherwise from Robert's (1995) translated exponential proposal with the
    optimal rate ``(a + sqrt(a^2 + 4)) / 2`` (acceptance >= 0.79 and rising to 1 far in the tail)."""
    if a < 0.25:
        while True:
            x = np.random.standard_normal()
            if x > a:
                return x
    lam = 0.5 * (a + math.sqrt(a * a + 4.0))
    while True:
        x = a + np.random.standard_exponential() / lam
        if np.random.random() <= math.exp(-0.5 * (x - lam) ** 2):
            return x


@numba.njit(cache=True)
def truncated_normal_draw(mean: float, sd: float, side: int) -> float:
    """One draw from ``N(mean, sd^2)`` truncated at 0 (``side`` as in :func:`truncated_normal`); compiled, for
    samplers that draw row by row (:class:`interdep.models.bayes.censored.LatentSweep`).

    Uses numba's own generator (Mersenne Twister), which the caller seeds from its ``numpy`` stream at each
    call into compiled code (:func:`compiled_seed`): passing a ``numpy.random.Generator`` into compiled code
    costs ~50 us per call, as much as a whole latent sweep at n = 400."""
    if side == 0:
        return mean + sd * np.random.standard_normal()
    if side > 0:
        return mean + sd * _upper_tail(-mean / sd)
    return mean - sd * _upper_tail(mean / sd)


@numba.njit(cache=True)
def interval_normal_draw(a: float, b: float) -> float:
    """One draw of ``x ~ N(0, 1)`` truncated to ``(a, b)`` (``a < b``; either may be infinite), exact by
    rejection: an interval on the negative side is mirrored; around 0, the normal itself when the interval is
    wide (``b - a >= 2``: acceptance >= 0.47), else a uniform proposal accepted with ``exp(-x^2/2)`` (>= 0.13);
    above 0, a uniform proposal accepted with ``exp(-(x^2 - a^2)/2)`` when ``(b - a)(b + a) <= 2`` (>= 0.37),
    else :func:`_upper_tail` rejecting draws above ``b`` (then at least ~0.6 of the tail lies below ``b``)."""
    if b <= 0.0:
        return -interval_normal_draw(-b, -a)
    if a <= 0.0:
        if b - a >= 2.0:
            while True:
                x = np.random.standard_normal()
                if a < x < b:
                    return x
        while True:
            x = a + (b - a) * np.random.random()
            if np.random.random() <= math.exp(-0.5 * x * x):
                return x
    if (b - a) * (b + a) <= 2.0:
        while True:
            x = a + (b - a) * np.random.random()
            if np.random.random() <= math.exp(-0.5 * (x * x - a * a)):
                return x
    while True:
        x = _upper_tail(a)
        if x < b:
            return x


def compiled_seed(rng: np.random.Generator) -> int:
    """A seed for numba's generator drawn from ``rng`` (so a fixed seed still gives identical draws).

    numba seeds its Mersenne Twister with 32 bits only: in a chain of 10^4 sweeps two sweeps share a seed with
    probability ~1%, reusing one stream of uniforms for a later, different state: a negligible departure from
    independent random inputs, not an error of the conditional distributions."""
    return int(rng.integers(0, 2**32))


@numba.njit(cache=True)
def _truncated_normals(mean: np.ndarray, sd: np.ndarray, side: np.ndarray, seed: int, out: np.ndarray) -> None:
    np.random.seed(seed)
    for j in range(out.size):
        out[j] = truncated_normal_draw(mean[j], sd[j], side[j])


@numba.njit(cache=True)
def latent_gibbs_sweep(z, e, rho, sigma2, rows, side, colsq, indptr, indices, data, seed):  # pragma: no cover
    """One single-site Gibbs sweep of the latent ``rows`` of ``A(rho) z = mean + e`` (compiled; the caller is
    :class:`interdep.models.bayes.censored.LatentSweep`): ``z_i | z_-i ~ N(z_i - (A'e)_i / (A'A)_ii,
    sigma2 / (A'A)_ii)`` truncated by ``side``, row by row, keeping ``e = A z - mean`` in step. ``indptr,
    indices, data``: ``W`` in CSC form; ``colsq``: its column sums of squares. Next to the truncated normal it
    calls, so that numba's cache of both is invalidated together."""
    np.random.seed(seed)
    for j in range(rows.size):
        i = rows[j]
        d = 1.0 + rho * rho * colsq[i]
        wte = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            wte += data[p] * e[indices[p]]
        new = truncated_normal_draw(z[i] - (e[i] - rho * wte) / d, math.sqrt(sigma2 / d), side[j])
        delta = new - z[i]
        z[i] = new
        e[i] += delta
        for p in range(indptr[i], indptr[i + 1]):
            e[indices[p]] -= rho * data[p] * delta


def truncated_normal(mean: np.ndarray, sd: np.ndarray, side: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws from ``N(mean, sd^2)`` truncated at 0, elementwise.

    ``side`` per element: ``-1`` -> ``(-inf, 0]`` (censored / ``y = 0``), ``+1`` -> ``(0, inf)`` (``y = 1``),
    ``0`` -> not truncated (an imputed missing value). Exact rejection samplers (:func:`truncated_normal_draw`),
    valid far into the tails; compiled with numba (the latent sweeps draw one row at a time).
    """
    mean, sd, side = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(sd, dtype=float),
                                         np.asarray(side, dtype=np.int64))
    out = np.empty(mean.shape)
    _truncated_normals(np.ascontiguousarray(mean).ravel(), np.ascontiguousarray(sd).ravel(),
                       np.ascontiguousarray(side).ravel(), compiled_seed(rng), out.reshape(-1))
    return out


# ----------------------------------------------------------------------------------------- chains


class Sampler(Protocol):
    """What :func:`run_chains` needs of an estimator's sampler."""

    names: list[str]  # the recorded parameters, in the order of ``record``

    def initial(self, chain: int, chains: int, rng: np.random.Generator) -> Any:
        """The starting state of ``chain`` (of ``chains``), dispersed across chains."""

    def step(self, state: Any, rng: np.random.Generator) -> Any:
        """One full sweep of the sampler; returns the new state (may update ``state`` in place)."""

    def record(self, state: Any) -> np.ndarray:
        """The parameter vector of ``state`` (aligned with ``names``)."""


@dataclass
class Chains:
    """Posterior draws ``draws[chain, draw, parameter]`` and how they were made."""

    names: list[str]
    draws: np.ndarray
    burn_in: int
    thin: int
    seed: int
    seconds: float
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # per-draw derived quantities, (chains, draws, m)

    @property
    def pooled(self) -> np.ndarray:
        """All chains stacked: (chains * draws, parameters)."""
        return self.draws.reshape(-1, self.draws.shape[2])

    def frame(self) -> pd.DataFrame:
        """Long-format draws: ``chain, draw`` and one column per parameter."""
        c, d, _ = self.draws.shape
        out = pd.DataFrame(self.pooled, columns=self.names)
        out.insert(0, "draw", np.tile(np.arange(d), c))
        out.insert(0, "chain", np.repeat(np.arange(c), d))
        return out


def run_chains(sampler: Sampler, *, draws: int, burn_in: int, chains: int, thin: int, seed: int,
               extra_every: int = 0) -> Chains:
    """Run ``chains`` chains of ``burn_in + draws * thin`` sweeps each, keeping every ``thin``-th after burn-in.

    Each chain has its own stream ``numpy.random.Generator(PCG64(SeedSequence(seed).spawn(chains)[c]))``;
    BLAS runs single-threaded, so a fixed seed gives byte-identical draws. With ``extra_every > 0`` and a
    sampler that has ``extra(state) -> numpy.ndarray``, that vector (e.g. impact factors that need the full
    state) is kept at every ``extra_every``-th recorded draw: ``Chains.extra["values"]`` (chains, m, q) and the
    parameters at the same draws ``Chains.extra["params"]`` (chains, m, p).
    """
    t0 = time.perf_counter()
    out = np.empty((chains, draws, len(sampler.names)))
    keep_extra = extra_every > 0 and hasattr(sampler, "extra")
    values: list[list[np.ndarray]] = [[] for _ in range(chains)]
    streams = np.random.SeedSequence(seed).spawn(chains)
    with single_thread_blas():
        for c in range(chains):
            rng = np.random.Generator(np.random.PCG64(streams[c]))
            state = sampler.initial(c, chains, rng)
            for _ in range(burn_in):
                state = sampler.step(state, rng)
            for d in range(draws):
                for _ in range(thin):
                    state = sampler.step(state, rng)
                out[c, d] = sampler.record(state)
                if keep_extra and d % extra_every == 0:
                    values[c].append(sampler.extra(state))  # type: ignore[attr-defined]
    extra = {}
    if keep_extra:
        extra = {"values": np.array(values), "params": out[:, ::extra_every, :].copy()}
    return Chains(list(sampler.names), out, burn_in, thin, seed, time.perf_counter() - t0, extra)


# ----------------------------------------------------------------------------------------- diagnostics


def _autocov_fft(x: np.ndarray) -> np.ndarray:
    """Autocovariances of each row of ``x`` (chains, draws) by FFT."""
    n = x.shape[1]
    xc = x - x.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(xc, size, axis=1)
    return np.fft.irfft(f * np.conj(f), size, axis=1)[:, :n] / n


def _ess_raw(x: np.ndarray) -> float:
    """ESS of draws ``x`` (chains, draws) by Geyer's initial monotone sequence (Stan / Vehtari et al. 2021)."""
    m, n = x.shape
    if n < 4 or np.ptp(x) == 0:
        return float("nan")
    acov = _autocov_fft(x)
    chain_var = acov[:, 0] * n / (n - 1)
    w = chain_var.mean()
    var_plus = w * (n - 1) / n + (np.var(x.mean(axis=1), ddof=1) if m > 1 else 0.0)
    rho = 1.0 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    pairs = rho[:-1:2] + rho[1::2]  # Geyer's sums of adjacent pairs
    stop = np.flatnonzero(pairs <= 0)
    pairs = pairs[: stop[0]] if stop.size else pairs
    pairs = np.minimum.accumulate(pairs)  # monotone
    tau = -1.0 + 2.0 * pairs.sum()
    tau = max(tau, 1.0 / np.log10(m * n))
    return float(m * n / tau)


def _split(x: np.ndarray) -> np.ndarray:
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, -half:]], axis=0)


def _rank_normal(x: np.ndarray) -> np.ndarray:
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return special.ndtri((r - 0.375) / (x.size + 0.25))


def _rhat(x: np.ndarray) -> float:
    m, n = x.shape
    w = x.var(axis=1, ddof=1).mean()
    b = n * x.mean(axis=1).var(ddof=1)
    return float(np.sqrt(((n - 1) / n * w + b / n) / w)) if w > 0 else float("nan")


def _batch_mcse(x: np.ndarray, batches: int = 25) -> float:
    """Monte Carlo standard error of the mean by batch means, per chain then pooled."""
    m, n = x.shape
    size = n // batches
    if size < 1:
        return float("nan")
    means = x[:, : size * batches].reshape(m, batches, size).mean(axis=2)
    return float(np.sqrt(means.var(ddof=1) / (m * batches)))


def _geweke(x: np.ndarray, first: float = 0.1, last: float = 0.5) -> float:
    """Geweke z of one chain: mean of the first 10% vs the last 50%, variances by batch means."""
    n = x.size
    a, b = x[: int(first * n)], x[n - int(last * n):]

    def var_mean(v: np.ndarray) -> float:
        size = max(1, v.size // 20)
        k = v.size // size
        return float(v[: k * size].reshape(k, size).mean(axis=1).var(ddof=1) / k)

    denom = np.sqrt(var_mean(a) + var_mean(b))
    return float((a.mean() - b.mean()) / denom) if denom > 0 else float("nan")


def diagnostics(chains: Chains) -> pd.DataFrame:
    """Per parameter: ``term, mean, sd, conf_low, conf_high, mcse, rhat, ess_bulk, ess_tail, geweke_max``.

    ``rhat``: rank-normalised split R-hat, the larger of the bulk and folded versions (Vehtari et al. 2021);
    ``ess_bulk`` / ``ess_tail``: rank-normalised split-chain ESS / the smaller of the ESS of the 5% and 95%
    quantile indicators; ``mcse``: batch-means standard error of the mean; ``geweke_max``: the largest |z| over
    chains.
    """
    rows = []
    for j, name in enumerate(chains.names):
        x = chains.draws[:, :, j]
        flat = x.ravel()
        sx = _split(x)
        if np.ptp(flat) == 0:
            rhat = ess_bulk = ess_tail = float("nan")
        else:
            folded = np.abs(flat - np.median(flat)).reshape(x.shape)
            rhat = max(_rhat(_rank_normal(sx)), _rhat(_rank_normal(_split(folded))))
            ess_bulk = _ess_raw(_rank_normal(sx))
            q05, q95 = np.quantile(flat, [0.05, 0.95])
            ess_tail = min(_ess_raw(_split((x <= q05).astype(float))), _ess_raw(_split((x <= q95).astype(float))))
        rows.append({
            "term": name, "mean": flat.mean(), "sd": flat.std(ddof=1),
            "conf_low": np.quantile(flat, 0.025), "conf_high": np.quantile(flat, 0.975),
            "mcse": _batch_mcse(x), "rhat": rhat, "ess_bulk": ess_bulk, "ess_tail": ess_tail,
            "geweke_max": max(abs(_geweke(x[c])) for c in range(x.shape[0])),
        })
    return pd.DataFrame(rows)


def convergence(diag: pd.DataFrame, *, rhat_max: float = RHAT_MAX, ess_min: float = ESS_MIN) -> tuple[bool, str]:
    """The package's rule: converged unless some R-hat > ``rhat_max`` or the smallest ESS < ``ess_min``.

    Returns ``(converged, reason)``; the reason names the worst parameter(s). Parameters that never move
    (``nan`` diagnostics) count as not converged.
    """
    reasons = []
    ess = diag[["ess_bulk", "ess_tail"]].min(axis=1)
    if diag["rhat"].isna().any() or ess.isna().any():
        bad = diag.loc[diag["rhat"].isna() | ess.isna(), "term"].tolist()
        reasons.append(f"no variation in the draws of {', '.join(bad)}")
    worst_r = diag.loc[diag["rhat"].idxmax()] if diag["rhat"].notna().any() else None
    if worst_r is not None and worst_r["rhat"] > rhat_max:
        reasons.append(f"R-hat of {worst_r['term']} = {worst_r['rhat']:.3f} > {rhat_max}")
    if ess.notna().any():
        j = ess.idxmin()
        if ess[j] < ess_min:
            reasons.append(f"smallest ESS {ess[j]:.0f} ({diag.loc[j, 'term']}) < {ess_min}")
    return not reasons, "; ".join(reasons)


# ----------------------------------------------------------------------------------------- summaries, output


@dataclass
class PosteriorEstimate(Estimate):
    """An :class:`Estimate` from posterior draws: ``params`` = posterior means, ``cov`` = posterior covariance
    (so ``std_errors`` are posterior sds); ``coefficients()`` gives the 95% equal-tailed credible interval,
    ``statistic`` = mean / sd and ``p_value`` = the two-sided posterior tail probability
    ``2 min(P(theta <= 0), P(theta >= 0))`` (not a frequentist p-value)."""

    quantiles: np.ndarray | None = None  # (p, 2): 2.5% and 97.5%
    tail_probability: np.ndarray | None = None

    def coefficients(self, level: float = 0.95) -> pd.DataFrame:
        if self.quantiles is None or level != 0.95:
            raise ValueError("posterior summaries are stored for 95% credible intervals only")
        se = self.std_errors
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = np.where(se > 0, self.params / se, np.nan)
        return pd.DataFrame({"term": self.terms, "estimate": self.params, "std_error": se, "statistic": stat,
                             "p_value": self.tail_probability, "conf_low": self.quantiles[:, 0],
                             "conf_high": self.quantiles[:, 1]}, columns=COEFFICIENT_COLUMNS)


def posterior_estimate(chains: Chains, *, estimator: str, n_obs: int, sigma2_term: str | None = "sigma2",
                       exclude: tuple[str, ...] = ()) -> PosteriorEstimate:
    """Summarise the draws of every recorded parameter except ``exclude`` (e.g. ``sigma2``, which fit.json
    reports) into a :class:`PosteriorEstimate`; ``sigma2`` is its posterior mean (1 for probit)."""
    keep = [j for j, n in enumerate(chains.names) if n not in exclude]
    d = chains.pooled[:, keep]
    sigma2 = float(chains.pooled[:, chains.names.index(sigma2_term)].mean()) if sigma2_term else 1.0
    tail = 2 * np.minimum((d <= 0).mean(axis=0), (d >= 0).mean(axis=0))
    return PosteriorEstimate(
        estimator=estimator, terms=[chains.names[j] for j in keep], params=d.mean(axis=0),
        cov=np.atleast_2d(np.cov(d, rowvar=False)), sigma2=sigma2, n_obs=n_obs,
        quantiles=np.quantile(d, [0.025, 0.975], axis=0).T, tail_probability=np.minimum(tail, 1.0),
    )


def summarise_chains(chains: Chains, mcmc: Mapping[str, int], *, estimator: str, n_obs: int,
                     sigma2_term: str | None) -> tuple[PosteriorEstimate, pd.DataFrame, dict[str, Any]]:
    """Diagnostics, the convergence rule and the posterior summary of a sampler's chains.

    Returns the :class:`PosteriorEstimate` (``converged`` and the reason set; ``sigma2`` left out of the terms,
    fit.json reports it), the per-parameter diagnostics, and the part of fit.json's ``mcmc`` block every sampler
    shares (settings, smallest ESS, largest R-hat and Geweke, the rules, seconds, impact draws, per-parameter
    diagnostics); each estimator adds its priors and its own facts.
    """
    diag = diagnostics(chains)
    converged, reason = convergence(diag)
    if mcmc["chains"] < 2:
        converged, reason = False, "; ".join(filter(None, [reason, "R-hat needs two or more chains"]))
    estimate = posterior_estimate(chains, estimator=estimator, n_obs=n_obs, sigma2_term=sigma2_term,
                                  exclude=("sigma2",))
    estimate.converged, estimate.message = converged, reason
    ess = diag[["ess_bulk", "ess_tail"]].min(axis=1)
    values = chains.extra.get("values") if chains.extra else None
    block = {
        **mcmc,
        "ess_min": float(ess.min()),
        "rhat_max": float(diag["rhat"].max()),
        "geweke_max": float(diag["geweke_max"].max()),
        "rules": {"rhat_max": RHAT_MAX, "ess_min": ESS_MIN},
        "seconds": round(chains.seconds, 3),
        **({"impact_draws": int(values.shape[0] * values.shape[1])} if values is not None else {}),
        "diagnostics": {r.term: {"rhat": float(r.rhat), "ess_bulk": float(r.ess_bulk),
                                 "ess_tail": float(r.ess_tail), "mcse": float(r.mcse),
                                 "geweke_max": float(r.geweke_max)} for r in diag.itertuples()},
    }
    return estimate, diag, block


def write_draws(draws: Chains | pd.DataFrame | None, path: str | Path) -> None:
    """Write posterior draws (``chain, draw, <parameters>``; :meth:`Chains.frame`) as zstd-compressed parquet
    with deterministic bytes (no pandas metadata). ``None`` (a model without MCMC) writes the two columns and
    no rows, so every model has the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if draws is None:
        draws = pd.DataFrame({"chain": np.zeros(0, dtype=np.int64), "draw": np.zeros(0, dtype=np.int64)})
    elif isinstance(draws, Chains):
        draws = draws.frame()
    table = pa.Table.from_pandas(draws, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, str(path), compression="zstd")
