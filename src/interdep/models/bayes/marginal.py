"""Log-marginal likelihoods of spatial panels (LeSage & Pace 2009, ch. 6) and posterior model probabilities.

Which channel carries the dependence? Each candidate (a model type and a weights channel) gets its marginal
likelihood ``p(y | model)``, the likelihood averaged over the prior of its parameters. Priors, as LeSage & Pace's
flat-prior marginals: ``beta`` and the fixed effects flat, ``sigma`` with density ``1/sigma``, ``rho`` (or
``lambda``) uniform on its admissible interval ``(1/lambda_min, 1/lambda_max)`` over every year's weights.

``beta`` and ``sigma`` integrate out analytically; ``rho`` numerically (a grid over the admissible interval,
refined where the integrand is not negligible, trapezoid rule; the relative error is estimated by halving the grid
and reported). The log-Jacobian ``sum_t log|I - rho W_t|`` comes from the per-year eigenvalues of
:mod:`interdep.models.panel_ml`, computed once per distinct year.

The marginal (SAR / SDM; ``p`` = regressors + independent effects, ``m = (n - p)/2``, ``S(rho)`` the sum of
squared residuals of ``A(rho) y`` on ``[X, D]``, ``D`` the width of the interval)::

    log p(y) = -log(D) + lgamma(m) - m log(pi) - log(2) - log|X'X|/2 + log int |A(rho)| S(rho)^-m drho

The SEM replaces ``|X'X|`` by ``|X' A' A X|`` inside the integral. LeSage's MATLAB code and R spmixW / Python
spmixw use ``m = (n - 1)/2`` whatever ``p`` and ``lgamma(m) - m log(2 pi)``: available as
``convention="lesage"`` (tested against spmixw); with many fixed effects (``p`` in the hundreds) the two differ
in the weight the integrand gives the log-determinant against the residuals, and only the exact one is the
posterior that the samplers (``sar_conv``) draw from.

Adjusted log-Jacobian (SAR / SDM with fixed effects, the default): integrating the effects out under flat
priors leaves ``rho`` with the full ``log|A(rho)|`` while the quadratic form loses ``p`` degrees of freedom, which
pulls ``rho`` towards 0 by ``O(p/n)``; as the MCMC samplers do (:func:`~interdep.models.bayes.core.
effects_jacobian_weights`), the integrand uses ``log|A| - tr(P_D log A)`` instead (Lee & Yu's transformed
Jacobian in the balanced fixed-``W`` case), from the eigen-decomposition of every year's ``W``; where a year's
``W`` has no well-conditioned eigenvector basis (kNN graphs often have Jordan blocks), by the trace series that
``sar_conv`` uses, with its error bound added to the reported error (every candidate is then adjusted alike;
before, such channels were silently left unadjusted while the others were adjusted). Strictly this
makes the marginal a marginal of the transformed (Lee-Yu) likelihood rather than of the dummy-variable model;
``adjust=False`` and ``convention="lesage"`` give the unadjusted values (spmixw's).

Fixed effects are parameters with flat priors, integrated out exactly. For SAR / SDM this is the within
projection of :class:`interdep.models.design.EffectsProjector` (the ML engine's design) and ``|X'X|`` becomes
``|X'QX|`` (the constant ``|D'D|`` of the dummies is left out: it is the same for every model of one sample). For
the SEM the projection does not commute with ``A(lambda)``, so the dummies ``D`` enter ``|Z'A'AZ|`` with
``Z = [X, D]`` (``|D'D|`` again divided out, so that SAR and SEM marginals share one constant).

Marginals of models with different regressors (SAR against SDM) depend on the improper flat prior on ``beta``
(Lindley's paradox); comparisons across channels within one model type do not.

Subsets of channels (Bayesian model averaging over the non-empty subsets, Debarsy & LeSage 2022) use the
convex-combination model ``W(gamma) = sum_k gamma_k W_k`` (SDM: ``X(gamma) = [X, W(gamma) X]``) with ``gamma``
uniform on the simplex (Dirichlet(1, ..., 1)) and ``rho | gamma`` uniform on the admissible interval of
``W(gamma)``, so that a subset's marginal tends to the single channel's at a vertex of the simplex. For each
``gamma`` the marginal ``p(y | gamma)`` is the single-W marginal above (eigenvalues of every year's
``W_t(gamma)``; the effects adjustment as ``sar_conv`` computes it,
:class:`~interdep.models.bayes.conv.ConvexLogJacobian`, exact or within its stated series bound; that series
converges for ``|rho| < 1`` only, so the integral over ``rho`` is over the admissible interval within ``(-1, 1)``
and the prior mass outside, e.g. below ``-1`` near a near-complete channel's vertex, is left out, its estimated
share added to the error); the integral
over ``gamma`` is by adaptive importance sampling (a scrambled Sobol round from the prior, then Dirichlet
proposals fitted to the weighted draws, mixed with the prior), and its standard error is reported with the value.

:func:`choose_channels` keeps each candidate's design and marginal (with the posterior of ``rho`` on its grid and,
for a subset, the last round's points of ``gamma`` and their weights), from which
:mod:`interdep.models.bayes.averaging` draws the candidates' posteriors and averages them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats
from scipy.special import gammaln, logsumexp

from interdep.errors import EstimationError, InputError
from interdep.models.bayes.conv import ConvexLogJacobian
from interdep.models.bayes.core import adjusted_log_jacobian, effects_jacobian_weights
from interdep.models.design import Design, build_design
from interdep.models.panel_ml import _parts, _spectra, rho_bounds, single_thread_blas

__all__ = ["CONVENTIONS", "MODEL_TYPES", "Candidate", "ChannelChoice", "Marginal", "channel_choice",
           "choose_channels", "log_marginal", "model_probabilities", "subset_marginal"]

MODEL_TYPES = ("sar", "sdm", "sem")

_COARSE = 201  # grid points over the whole admissible interval
_FINE = 801  # grid points over the part where the integrand is within exp(-_DROP) of its maximum
_DROP = 40.0
SUBSET_ROUNDS = (32, 32, 64)  # importance-sampling draws of gamma per round (the last round gives the estimate)
_DEFENSIVE = 0.2  # share of each proposal drawn from the prior
_SERIES_MARGIN = 1e-6  # subsets: rho is integrated over (-1 + margin, 1 - margin) within its admissible interval


@dataclass(frozen=True)
class Marginal:
    """One model's log-marginal likelihood and what came with it.

    Attributes
    ----------
    model_type : str
        ``sar``, ``sdm`` or ``sem``.
    channel : str
        The weights channel.
    log_marginal : float
        ``log p(y | model)`` (natural log).
    rho_mean, rho_sd : float
        Posterior mean and standard deviation of ``rho`` (``lambda`` for the SEM) from the same grid.
    interval : tuple of float
        The admissible interval over which ``rho`` is integrated (its prior's support).
    error : float
        Estimated absolute error of ``log_marginal``: for one channel the relative error of the integral over
        ``rho`` (grid halving), plus, where a year's ``W`` has no eigenvector basis and the effects adjustment is
        computed by the series of :class:`~interdep.models.bayes.conv.ConvexLogJacobian`, the bound on what its
        error does to the integral (``_series_error``); for a subset the importance-sampling standard error.
    grid : tuple of numpy.ndarray, optional
        One channel: the quadrature grid of ``rho`` and the normalised posterior density of ``rho`` on it (the
        trapezoid rule integrates it to 1). ``None`` for the SEM.
    points : tuple, optional
        A subset: the last importance-sampling round, ``(gamma, weights, marginals)``: the points ``gamma``
        ``(m, C)``, their self-normalised weights ``(m,)`` (the posterior of ``gamma``) and each point's
        single-``W(gamma)`` :class:`Marginal` (with its ``grid``: the posterior of ``rho`` given ``gamma``).
    """

    model_type: str
    channel: str
    log_marginal: float
    rho_mean: float
    rho_sd: float
    interval: tuple[float, float]
    error: float
    grid: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)
    points: tuple[np.ndarray, np.ndarray, list] | None = field(default=None, repr=False, compare=False)


def _log_jacobian(spectra: Sequence[Any]) -> Callable[[np.ndarray], np.ndarray]:
    """``rho -> sum_t log|I - rho W_t|`` on a vector of ``rho`` values, from each year's eigenvalues.

    ``spectra`` holds one :class:`~interdep.models.panel_ml.Spectrum` per year (the same object for years that
    share a matrix, as :func:`~interdep.models.panel_ml._spectra` returns them): each distinct one is evaluated
    once and weighted by its number of years.
    """
    counts: dict[int, list] = {}
    for s in spectra:
        counts.setdefault(id(s), [s.lam, 0])[1] += 1
    lam = np.concatenate([v[0] for v in counts.values()])
    mult = np.concatenate([np.full(len(v[0]), v[1], dtype=float) for v in counts.values()])
    if np.iscomplexobj(lam) and not np.abs(np.imag(lam)).max(initial=0.0) > 0:
        lam = np.real(lam)

    def logdet(rho: np.ndarray) -> np.ndarray:
        out = np.empty(len(rho))
        for i in range(0, len(rho), 256):  # chunks keep the (grid x eigenvalues) array small
            r = rho[i:i + 256, None]
            out[i:i + 256] = np.log(np.abs(1.0 - r * lam)) @ mult
        return out

    return logdet


def _integrate(log_f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float
               ) -> tuple[float, float, float, float, tuple[np.ndarray, np.ndarray]]:
    """``log int_lo^hi exp(log_f)``, the mean and sd of the normalised density, the relative error estimate, and
    the fine grid with the normalised density on it.

    A coarse grid over ``(lo, hi)`` finds where ``log_f`` is within ``_DROP`` of its maximum; a fine grid there
    (one coarse step wider on each side) gives the trapezoid integral. Error: the difference to the same rule on
    every second point, plus the mass the coarse grid puts outside the fine range (at most ``exp(-_DROP)``
    times the width over the integral).
    """
    coarse = np.linspace(lo, hi, _COARSE)
    vals = log_f(coarse)
    if not np.isfinite(vals).any():
        raise EstimationError("the integrand of the marginal likelihood is zero or undefined everywhere")
    top = np.nanmax(vals)
    keep = np.flatnonzero(vals > top - _DROP)
    a, b = coarse[max(keep[0] - 1, 0)], coarse[min(keep[-1] + 1, _COARSE - 1)]
    x = np.linspace(a, b, _FINE)
    fx = log_f(x)
    peak = fx.max()
    w = np.exp(fx - peak)
    area = np.trapezoid(w, x)
    half = np.trapezoid(w[::2], x[::2])
    mean = np.trapezoid(w * x, x) / area
    sd = np.sqrt(max(np.trapezoid(w * (x - mean) ** 2, x) / area, 0.0))
    outside = (hi - lo) * np.exp(top - _DROP - peak) / area if (a > lo or b < hi) else 0.0
    error = abs(area - half) / area + outside
    return float(np.log(area) + peak), float(mean), float(sd), float(error), (x, w / area)


CONVENTIONS = ("exact", "lesage")


def _constant(n: int, p: int, width: float, convention: str) -> tuple[float, float]:
    """The exponent ``m`` of ``SSR^-m`` and the log of the constant in front of the integral over ``rho``.

    ``exact``: ``m = (n - p)/2`` (``p`` = regressors + independent effects integrated out) and
    ``-log(D) + lgamma(m) - m log(pi) - log 2``, the flat-prior marginal. ``lesage``: ``m = (n - 1)/2`` and
    ``-log(D) + lgamma(m) - m log(2 pi)``, the convention of LeSage's code and spmixw.
    """
    if convention == "lesage":
        m = (n - 1) / 2.0
        return m, -np.log(width) + gammaln(m) - m * np.log(2 * np.pi)
    if convention != "exact":
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
    m = (n - p) / 2.0
    if m <= 0:
        raise EstimationError(f"no residual degrees of freedom ({n} observations, {p} parameters integrated out)")
    return m, -np.log(width) + gammaln(m) - m * np.log(np.pi) - np.log(2.0)


def _slogdet_pd(a: np.ndarray, what: str) -> float:
    sign, value = np.linalg.slogdet(a)
    if sign <= 0:
        raise EstimationError(f"{what} is not positive definite (collinear regressors?)")
    return float(value)


def _lag_marginal(design: Design, channel: str, model_type: str, convention: str = "exact",
                  adjust: bool | None = None, convex: tuple[Any, np.ndarray] | None = None) -> Marginal:
    """SAR / SDM: ``rho`` integrated numerically, ``beta``, effects and ``sigma`` analytically; the log-Jacobian
    adjusted for the fixed effects when ``adjust`` (default: with the ``exact`` convention). ``convex``: a
    :class:`~interdep.models.bayes.conv.ConvexLogJacobian` and the ``gamma`` of ``design``'s ``W(gamma)``, whose
    adjustment is used (the one ``sar_conv`` samples with; no eigenvectors of ``W(gamma)`` needed)."""
    parts = _parts(design)  # projected X, and residuals of Qy and Q W y on QX (the ML engine's quantities)
    spectra = _spectra(design, channel)
    lo, hi = rho_bounds([s.lam for s in spectra])
    adjusted = convention == "exact" if adjust is None else adjust
    weights = effects_jacobian_weights(design, channel) if adjusted and convex is None else None
    series = None  # the series adjustment of a W with a year without eigenvector basis: its error bound counts
    if adjusted and convex is None and weights is None and design.projector.D is not None:
        try:  # as sar_conv and the subsets compute it
            series = ConvexLogJacobian(design, [channel])
            convex = (series, np.ones(1))
        except InputError:  # not row-standardised: no bound for the series, the plain log-Jacobian stays
            series = None
    if convex is not None and adjusted and convex[0].adjusted:
        jac, gamma = convex
        lams = [s.lam for s in spectra]
        year_d = [np.full(len(s.lam), d) for s, d in zip(spectra, jac.year_d, strict=True)]

        def logdet(rho: np.ndarray) -> np.ndarray:  # sum_t (1 - d_t) log|A_t| - the rest of the adjustment
            return adjusted_log_jacobian(lams, year_d, rho) - jac.adjustments(rho, gamma)
    elif weights is None:
        logdet = _log_jacobian(spectra)
    else:
        lams = [s.lam for s in _spectra(design, channel, vectors=True)]

        def logdet(rho: np.ndarray) -> np.ndarray:
            return adjusted_log_jacobian(lams, weights, rho)
    k = parts.Xt.shape[1]
    dof, const = _constant(design.n_obs, k + design.projector.n_effects, hi - lo, convention)
    log_xx = _slogdet_pd(parts.Xt.T @ parts.Xt, f"model {design.model_id!r}: X'X") if k else 0.0
    g = parts.gram  # [[e0'e0, e0'ed], [ed'e0, ed'ed]]

    def log_f(rho: np.ndarray) -> np.ndarray:
        ssr = g[0, 0] - 2 * rho * g[0, 1] + rho**2 * g[1, 1]
        return logdet(rho) - dof * np.log(np.maximum(ssr, 1e-300))

    # the convex adjustment's trace series converges for |rho| < 1 only: the prior mass of rho outside (-1, 1) (a
    # near-complete channel's interval reaches far below -1) is left out and estimated into the error
    a, b = (max(lo, -1 + _SERIES_MARGIN), min(hi, 1 - _SERIES_MARGIN)) if convex is not None else (lo, hi)
    log_int, mean, sd, err, grid = _integrate(log_f, a, b)
    if (a, b) != (lo, hi):
        edge = log_f(np.array([a, b]))
        err += float(np.nan_to_num((a - lo) * np.exp(edge[0] - log_int) + (hi - b) * np.exp(edge[1] - log_int),
                                   nan=np.inf))
    if series is not None:
        err += _series_error(series, log_f, a, b, log_int, grid)
    return Marginal(model_type, channel, const - 0.5 * log_xx + log_int, mean, sd, (lo, hi), err, grid)


def _series_error(series: ConvexLogJacobian, log_f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float,
                  log_int: float, grid: tuple[np.ndarray, np.ndarray]) -> float:
    """Bound on the error of a log-marginal whose effects adjustment came from ``series``: with ``delta(rho)``
    the series error, ``|log int f e^delta - log int f| <= log E[exp(max |delta|)]`` under the posterior
    ``f / int f``, each ``|delta(rho)|`` bounded by :meth:`~interdep.models.bayes.conv.ConvexLogJacobian.bound`
    or by ``2 b (-log(1 - |rho|))`` (the series and its limit are each at most ``b sum_m |rho|^m / m``). The
    expectation by the trapezoid rule on the quadrature's fine grid (``grid``: points and normalised density)
    and the coarse grid outside it; ``(lo, hi)`` lies within ``(-1, 1)``."""
    x_fine, dens = grid
    coarse = np.linspace(lo, hi, _COARSE)
    coarse = coarse[(coarse < x_fine[0]) | (coarse > x_fine[-1])]
    x = np.concatenate([x_fine, coarse])
    with np.errstate(divide="ignore"):
        log_p = np.concatenate([np.log(dens), log_f(coarse) - log_int])
    order = np.argsort(x)
    x, log_p = x[order], log_p[order]
    r = np.abs(x)
    M, b = series.order, series.bound_constant
    delta = np.minimum(b * r ** (M + 1) / ((M + 1) * (1 - r)), -2 * b * np.log1p(-r))
    term = log_p + delta
    with np.errstate(divide="ignore"):
        cells = np.log(np.diff(x) / 2) + np.logaddexp(term[:-1], term[1:])
    return float(max(logsumexp(cells), 0.0))


def _full_rank_dummies(design: Design) -> np.ndarray:
    """The unit / year dummies of the design's effects with one year column dropped for two-way effects."""
    proj = design.projector
    if proj.D is None:
        return np.zeros((design.n_obs, 0))
    dummies = proj.D.toarray()
    if design.effects == "twoway":
        dummies = dummies[:, :-1]
    if np.linalg.matrix_rank(dummies) != dummies.shape[1]:
        raise EstimationError(f"model {design.model_id!r}: the effect dummies are not of full rank after dropping "
                              "one year (units and years fall into separate groups)")
    return dummies


def _error_marginal(design: Design, channel: str, convention: str = "exact") -> Marginal:
    """SEM (or SDEM, with ``W x`` columns in the design): ``lambda`` numerically, the rest analytically."""
    dummies = _full_rank_dummies(design)
    Z = np.column_stack([design.X, dummies])
    y = design.y
    WZ = design.lag(channel, Z)
    Wy = design.lag(channel, y)
    zz, zwz, wzwz = Z.T @ Z, Z.T @ WZ, WZ.T @ WZ
    zwz_sym = zwz + zwz.T
    zy, zwy_sym, wzwy = Z.T @ y, Z.T @ Wy + WZ.T @ y, WZ.T @ Wy
    yy, ywy, wywy = y @ y, y @ Wy, Wy @ Wy
    log_dd = _slogdet_pd(dummies.T @ dummies, "D'D") if dummies.shape[1] else 0.0
    _slogdet_pd(zz, f"model {design.model_id!r}: Z'Z")
    spectra = _spectra(design, channel)
    lo, hi = rho_bounds([s.lam for s in spectra])
    logdet = _log_jacobian(spectra)
    dof, const = _constant(design.n_obs, Z.shape[1], hi - lo, convention)

    def one(lam: float) -> float:
        a_zz = zz - lam * zwz_sym + lam**2 * wzwz
        a_zy = zy - lam * zwy_sym + lam**2 * wzwy
        a_yy = yy - 2 * lam * ywy + lam**2 * wywy
        try:
            c = sla.cho_factor(a_zz, check_finite=False)
        except np.linalg.LinAlgError:
            return -np.inf
        q = a_yy - a_zy @ sla.cho_solve(c, a_zy, check_finite=False)
        return -dof * np.log(max(q, 1e-300)) - np.sum(np.log(np.diag(c[0])))

    def log_f(lam: np.ndarray) -> np.ndarray:
        return logdet(lam) + np.array([one(v) for v in lam])

    log_int, mean, sd, err, _ = _integrate(log_f, lo, hi)
    return Marginal("sem", channel, const + 0.5 * log_dd + log_int, mean, sd, (lo, hi), err)


def log_marginal(design: Design, model_type: str, convention: str = "exact", adjust: bool | None = None) -> Marginal:
    """The flat-prior log-marginal likelihood of one single-channel model.

    Parameters
    ----------
    design : Design
        From :func:`interdep.models.design.build_design` with one channel; for ``sdm`` built with
        ``spatial_x=True`` (the ``W x`` columns are regressors). An ``sem`` on a design with ``W x`` columns is
        the SDEM.
    model_type : {"sar", "sdm", "sem"}
    convention : {"exact", "lesage"}
        ``exact`` (default): the flat-prior marginal, ``SSR^-(n - p)/2``; ``lesage``: LeSage's and spmixw's
        ``SSR^-(n - 1)/2`` with its constant (for comparisons with that code).
    adjust : bool, optional
        SAR / SDM with fixed effects: the log-Jacobian adjusted for the effects, ``log|A| - tr(P_D log A)``
        (:func:`~interdep.models.bayes.core.effects_jacobian_weights`). Default: adjusted with the ``exact``
        convention, not with ``lesage`` (spmixw's values). The SEM is never adjusted.

    Returns
    -------
    Marginal
    """
    if model_type not in MODEL_TYPES:
        raise InputError(f"unknown model type {model_type!r}; expected one of {', '.join(MODEL_TYPES)}",
                         value=model_type)
    if len(design.channels) != 1:
        raise InputError(f"model {design.model_id!r}: a log-marginal likelihood needs exactly one channel",
                         value=design.channels)
    with single_thread_blas():
        if model_type == "sem":
            return _error_marginal(design, design.channels[0], convention)
        return _lag_marginal(design, design.channels[0], model_type, convention, adjust)


def _mixture_design(design: Design, channels: Sequence[str], gamma: np.ndarray, model_type: str) -> Design:
    """The single-channel design of ``W(gamma) = sum_k gamma_k W_k`` (SDM: ``W(gamma) x`` columns replace the
    per-channel ``W_k x``); the projector of ``design`` is shared."""
    blocks = [sp.csr_array(sum(g * design.weights[c][t] for g, c in zip(gamma, channels, strict=True)))
              for t in range(design.n_periods)]
    base = [j for j, nm in enumerate(design.names) if not nm.startswith("W_")]
    cols, names = [design.X[:, base]], [design.names[j] for j in base]
    if model_type == "sdm":
        wx = sum(g * np.column_stack([design.X[:, design.names.index(f"W_{c}_{x}")] for x in design.regressors])
                 for g, c in zip(gamma, channels, strict=True))
        cols.append(wx)
        names += [f"W_conv_{x}" for x in design.regressors]
    out = Design(model_id=design.model_id, y=design.y, X=np.column_stack(cols), names=names,
                 regressors=design.regressors, channels=["conv"], years=design.years, blocks=design.blocks,
                 weights={"conv": blocks}, sample=design.sample, effects=design.effects)
    out.__dict__["projector"] = design.projector
    return out


def _simplex_from_cube(u: np.ndarray) -> np.ndarray:
    """Uniform points of the cube ``(m, C-1)`` to uniform points of the ``C``-simplex (sorted spacings)."""
    s = np.sort(u, axis=1)
    edges = np.column_stack([np.zeros(len(u)), s, np.ones(len(u))])
    return np.diff(edges, axis=1)


def _fit_dirichlet(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Dirichlet parameters with the weighted mean and (average) variance of the points ``g``."""
    w = w / w.sum()
    mean = np.clip(w @ g, 1e-6, None)
    mean = mean / mean.sum()
    var = np.clip(w @ (g - mean) ** 2, 1e-10, None)
    conc = float(np.clip(np.mean(mean * (1 - mean) / var) - 1, len(mean), 1e5))
    return np.clip(mean * conc, 0.05, None)


def subset_marginal(design: Design, model_type: str, *, seed: int = 0,
                    rounds: Sequence[int] = SUBSET_ROUNDS) -> tuple[Marginal, np.ndarray]:
    """Log-marginal likelihood of the convex-combination model over all of ``design``'s channels.

    Parameters
    ----------
    design : Design
        Two or more channels; for ``sdm`` built with ``spatial_x=True``.
    model_type : {"sar", "sdm"}
    seed : int
        Seed of the importance sampler (the result is a deterministic function of it).
    rounds : sequence of int
        Draws per round: the first from the prior (scrambled Sobol), each later one from a Dirichlet fitted to
        the previous round's weighted draws, mixed with the prior; the estimate is the last round's.

    Returns
    -------
    (Marginal, numpy.ndarray)
        The marginal (``channel`` = channels joined by ``+``; ``error`` = importance-sampling standard error
        of ``log_marginal``; ``rho_*`` from the weighted draws) and the posterior mean of ``gamma``.
    """
    channels = list(design.channels)
    C = len(channels)
    if C < 2 or model_type not in ("sar", "sdm"):
        raise InputError(f"model {design.model_id!r}: subset marginals need two or more channels and model type "
                         f"sar or sdm, not {C} channel(s) and {model_type!r}")
    rng = np.random.default_rng(seed)
    log_prior = gammaln(C)  # Dirichlet(1): density (C - 1)! on the simplex
    prior = np.ones(C)
    alpha = prior
    with single_thread_blas():
        jacobian = ConvexLogJacobian(design, channels)
        for r, m in enumerate(rounds):
            if r == 0:
                g = _simplex_from_cube(stats.qmc.Sobol(C - 1, scramble=True, seed=rng).random(m))
                log_q = np.full(m, log_prior)
            else:
                n_prior = int(round(_DEFENSIVE * m))
                g = np.vstack([rng.dirichlet(alpha, m - n_prior), rng.dirichlet(prior, n_prior)])
                g = np.clip(g, 1e-12, None)
                g /= g.sum(axis=1, keepdims=True)
                log_q = np.logaddexp(np.log1p(-_DEFENSIVE) + stats.dirichlet.logpdf(g.T, alpha),
                                     np.log(_DEFENSIVE) + log_prior)
            fits = [_lag_marginal(_mixture_design(design, channels, gi, model_type), "conv", model_type,
                                  convex=(jacobian, gi)) for gi in g]
            log_w = np.array([f.log_marginal for f in fits]) + log_prior - log_q
            w = np.exp(log_w - log_w.max())
            alpha = _fit_dirichlet(g, w)
    log_m = float(logsumexp(log_w) - np.log(len(log_w)))
    se = float(np.std(w, ddof=1) / (np.sqrt(len(w)) * w.mean()))
    wn = w / w.sum()
    means = np.array([f.rho_mean for f in fits])
    sds = np.array([f.rho_sd for f in fits])
    rho_mean = float(wn @ means)
    rho_sd = float(np.sqrt(max(wn @ (sds**2 + means**2) - rho_mean**2, 0.0)))
    marginal = Marginal(model_type, "+".join(channels), log_m, rho_mean, rho_sd,
                        (min(f.interval[0] for f in fits), max(f.interval[1] for f in fits)), se,
                        points=(g, wn, fits))
    return marginal, wn @ g


def model_probabilities(log_marginals: Sequence[float], prior: Sequence[float] | None = None) -> np.ndarray:
    """Posterior model probabilities ``p(M_j | y)`` from log-marginal likelihoods (equal prior unless given).

    Parameters
    ----------
    log_marginals : sequence of float
    prior : sequence of float, optional
        Positive prior weights (normalised here).
    """
    lm = np.asarray(log_marginals, dtype=float)
    if lm.size == 0 or not np.isfinite(lm).all():
        raise EstimationError(f"log-marginal likelihoods must be finite and non-empty: {lm.tolist()}")
    log_prior = np.zeros_like(lm) if prior is None else np.log(np.asarray(prior, dtype=float))
    z = lm + log_prior
    w = np.exp(z - z.max())
    return w / w.sum()


def _lag_sd_ratio(design: Design, channel: str) -> float:
    """``sd(Q W y) / sd(Q y)``: the variation of the spatial lag left after the fixed effects, relative to the
    outcome's. Near 0 for a near-complete graph under year effects (``W y`` is then almost the year mean)."""
    q = design.projector
    return float(np.linalg.norm(q(design.lag(channel, design.y))) / np.linalg.norm(q(design.y)))


@dataclass(frozen=True)
class Candidate:
    """One candidate of a channel choice: its model type, channels, design and :class:`Marginal`."""

    model_type: str
    channels: tuple[str, ...]
    design: Design
    marginal: Marginal


@dataclass(frozen=True)
class ChannelChoice:
    """The channel-choice table (:func:`channel_choice`) and its candidates, in the table's row order (what
    :func:`interdep.models.bayes.averaging.average_channels` averages over)."""

    table: pd.DataFrame
    candidates: list[Candidate]


def channel_choice(spec: Mapping[str, Any], panel: pd.DataFrame,
                   graphs: Mapping[str, Mapping[int, Any]], *, seed: int = 0) -> pd.DataFrame:
    """The table of :func:`choose_channels` (its candidates dropped)."""
    return choose_channels(spec, panel, graphs, seed=seed).table


def choose_channels(spec: Mapping[str, Any], panel: pd.DataFrame,
                    graphs: Mapping[str, Mapping[int, Any]], *, seed: int = 0) -> ChannelChoice:
    """Log-marginal likelihood and posterior probability of every (model type, channel subset) candidate.

    Parameters
    ----------
    spec : mapping
        ``outputs.channel_choice`` of the config: ``channels``, ``model_types``, ``outcome``, ``regressors``,
        optional ``years``, ``effects`` (default ``twoway``), ``max_subset`` (largest subset of channels, default
        1: single channels only; subsets use the convex-combination model, SAR and SDM only) and ``prior``
        (candidate label -> positive weight, labels ``<model_type>:<channels>``, ``<channels>`` or
        ``<model_type>``, channels of a subset joined by ``+``; unnamed candidates weigh 1).
    panel, graphs
        As for :func:`interdep.models.fit.fit_model`.
    seed : int
        Seed of the importance sampler of the subsets.

    Returns
    -------
    ChannelChoice
        ``table``: ``model_type, channels, log_marginal, probability`` (probabilities over all rows sum to 1), then
        ``error`` (estimated absolute error of ``log_marginal``), ``rho_mean, rho_sd`` (posterior of the spatial
        parameter), ``gamma`` (subsets: posterior mean weight of each channel) and ``wy_sd_ratio`` (single
        channels: the variation of ``W y`` left after the effects, relative to the outcome's).
    """
    from itertools import combinations

    channels = list(spec["channels"])
    model_types = list(spec.get("model_types", ["sar", "sdm"]))
    max_subset = int(spec.get("max_subset", 1))
    for mt in model_types:
        if mt not in MODEL_TYPES:
            raise InputError(f"outputs.channel_choice: unknown model type {mt!r}; expected one of "
                             f"{', '.join(MODEL_TYPES)}", row="outputs.channel_choice.model_types", value=mt)
        if mt == "sem" and max_subset > 1:
            raise InputError("outputs.channel_choice: subsets of channels (max_subset > 1) are for sar and sdm only",
                             row="outputs.channel_choice.model_types", value=mt)
    rows, candidates = [], []
    sample = None
    for mt in model_types:
        for size in range(1, max_subset + 1):
            for subset in combinations(channels, size):
                label = "+".join(subset)
                model = {"id": f"channel_choice_{mt}_{label}", "weights": list(subset), "outcome": spec["outcome"],
                         "regressors": list(spec["regressors"]), "effects": spec.get("effects", "twoway")}
                if spec.get("years"):
                    model["years"] = list(spec["years"])
                design = build_design(model, panel, graphs, spatial_x=mt == "sdm")
                if sample is None:
                    sample = design.sample.reset_index(drop=True)
                elif not sample.equals(design.sample.reset_index(drop=True)):
                    raise EstimationError(f"channel choice: the sample of {mt}/{label} differs from the first "
                                          "candidate's; marginal likelihoods of different samples are not comparable")
                if size == 1:
                    m, gamma, ratio = log_marginal(design, mt), "", _lag_sd_ratio(design, subset[0])
                else:
                    m, g = subset_marginal(design, mt, seed=seed + len(rows))
                    gamma = ", ".join(f"{c} {v:.2f}" for c, v in zip(subset, g, strict=True))
                    ratio = np.nan
                rows.append({"model_type": mt, "channels": label, "log_marginal": m.log_marginal, "error": m.error,
                             "rho_mean": m.rho_mean, "rho_sd": m.rho_sd, "gamma": gamma, "wy_sd_ratio": ratio})
                candidates.append(Candidate(mt, tuple(subset), design, m))
    out = pd.DataFrame(rows)
    prior = _prior_weights(spec.get("prior") or {}, out)
    out.insert(3, "probability", model_probabilities(out["log_marginal"].to_numpy(), prior))
    return ChannelChoice(out, candidates)


def _prior_weights(prior: Mapping[str, float], table: pd.DataFrame) -> np.ndarray:
    labels = {f"{r.model_type}:{r.channels}" for r in table.itertuples()} | set(table["channels"]) \
        | set(table["model_type"])
    for key, value in prior.items():
        if key not in labels:
            raise InputError("outputs.channel_choice.prior names no candidate", row="outputs.channel_choice.prior",
                             value=key)
        if not value > 0:
            raise InputError("prior weights must be positive", row=f"outputs.channel_choice.prior.{key}", value=value)
    w = np.ones(len(table))
    for i, r in enumerate(table.itertuples()):
        for key in (f"{r.model_type}:{r.channels}", r.channels, r.model_type):
            w[i] *= float(prior.get(key, 1.0))
    return w
