"""Bayesian model averaging over the candidates of a channel choice (Debarsy & LeSage 2022).

For each model type (SAR, SDM) of :func:`interdep.models.bayes.marginal.choose_channels`, the posterior of the
spatial parameter ``rho``, the coefficients (SDM: also ``theta``, the coefficients of ``W x``), ``sigma2``, the
shares ``gamma`` and the impacts, averaged over the candidate channel subsets ``s`` with their posterior
probabilities ``p(s | y, model type)`` (the channel-choice probabilities renormalised within the model type); and
each channel's posterior inclusion probability, the sum of the probabilities of the subsets that contain it.

Draws of each candidate's posterior, under the same priors as its marginal likelihood (flat ``beta`` and effects,
Jeffreys ``sigma``, ``rho`` uniform on its admissible interval, ``gamma`` uniform on the simplex):

* ``gamma`` (subsets): the last importance-sampling round of
  :func:`~interdep.models.bayes.marginal.subset_marginal` (points and self-normalised weights), resampled
  systematically to ``draws`` draws; one channel: ``gamma = 1``;
* ``rho | gamma``: by inverting the cumulative trapezoid integral of the posterior density of ``rho`` on the
  marginal's quadrature grid (801 points where the density is not negligible);
* ``sigma2 | rho, gamma = SSR(rho) / chi2(n - p)`` and ``beta | sigma2, rho, gamma ~ N(b(rho), sigma2 (X'QX)^-1)``
  (``p`` = regressors + independent effects; exact conditionals under the flat priors, ``beta`` marginally a
  multivariate t);
* impacts (LeSage & Pace 2009) from per-year traces, exact through each distinct year's eigen-decomposition
  ``W_t(gamma) = V diag(lam) V^-1`` (a dense inverse per draw where ``W_t(gamma)`` is defective): direct
  ``beta tr(S)/n + theta tr(S W)/n``, total ``beta 1'S1/n + theta 1'SW1/n``, ``S = (I - rho W)^-1``; the indirect
  impact carried by channel ``k`` is its share of the spillover's first step,
  ``gamma_k 1'W_k S 1 / sum_j gamma_j 1'W_j S 1`` (``S(beta I + theta W) = beta I + sum_k gamma_k W_k S
  (rho beta + theta)``; :func:`~interdep.models.bayes.conv.spillover_impacts`, the same for ``sar_conv`` and
  ``sdm_conv``).

Averaging: candidates are taken in decreasing probability until the probability left out is below ``WINDOW``
(Occam's window; its mass is reported); the averaged posterior is the mixture of their draws with weights
``p(s | y) / draws``. Monte Carlo error of a posterior mean: ``sqrt(sum_s p_s^2 se_s^2)``, with ``se_s^2`` for one
channel ``var/draws`` and for a subset the self-normalised importance-sampling variance over ``gamma``,
``sum_i w_i^2 (m_i - m)^2`` (``m_i`` the mean of the draws at point ``i``), plus ``var/draws``. The error of an
inclusion probability propagates the log-marginals' errors: ``d PIP_k / d log m_j = p_j (1[k in j] - PIP_k)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from interdep.models.bayes.conv import spillover_impacts, trace_functionals
from interdep.models.bayes.marginal import Candidate, ChannelChoice, _mixture_design
from interdep.models.panel_ml import _parts, distinct_years, single_thread_blas, spectrum

__all__ = ["BMA_DRAWS", "WINDOW", "average_channels", "candidate_draws"]

BMA_DRAWS = 2000  # posterior draws per candidate
WINDOW = 1e-6  # largest posterior probability (within a model type) left out of the average


def _sample_grid(grid: tuple[np.ndarray, np.ndarray], u: np.ndarray) -> np.ndarray:
    """Inverse of the cumulative trapezoid integral of a density on a grid, at the uniforms ``u``."""
    x, dens = grid
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    return np.interp(u * cdf[-1], cdf, x)


def _systematic(weights: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling: how many of ``draws`` draws each point gets (unbiased, least variance)."""
    positions = (rng.uniform() + np.arange(draws)) / draws
    idx = np.searchsorted(np.cumsum(weights / weights.sum()), positions, side="right")
    return np.bincount(np.minimum(idx, len(weights) - 1), minlength=len(weights))


def _trace_coefficients(mats: Sequence[np.ndarray], gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """For one year: eigenvalues ``lam`` of ``W = sum_k gamma_k W_k`` and the coefficients ``c`` (n, 4 + C) with
    ``[tr S, tr SW, 1'S1, 1'SW1, 1'W_k S 1 (k)] = sum_i c_i / (1 - rho lam_i)``
    (:func:`~interdep.models.bayes.conv.trace_functionals`); ``c`` is ``None`` when ``W`` is defective (dense
    inverses then, and ``W`` is returned in place of ``lam``)."""
    w = sum(g * m for g, m in zip(gamma, mats, strict=True))
    s = spectrum(sp.csr_array(w), vectors=True)
    if s.V is None:
        return w, None
    ones = np.ones(w.shape[0])
    right1, rightw = s.Vinv @ ones, s.Vinv @ (w @ ones)
    lefts = [ones @ s.V] + [(ones @ m) @ s.V for m in mats]
    cols = [np.ones_like(s.lam), s.lam, lefts[0] * right1, lefts[0] * rightw]
    cols += [left * right1 for left in lefts[1:]]
    return s.lam, np.column_stack(cols)


def _factors(years: list, gamma: np.ndarray, rho: np.ndarray, n_obs: int) -> np.ndarray:
    """``(len(rho), 4 + C)``: the trace functionals of :func:`_trace_coefficients` summed over the years (with
    their multiplicities) and divided by ``n_obs``."""
    out = np.zeros((len(rho), 4 + len(gamma)))
    for mats, mult in years:
        lam, coef = _trace_coefficients(mats, gamma)
        if coef is not None:
            out += mult * np.real((1.0 / (1.0 - rho[:, None] * lam[None, :])) @ coef)
            continue
        for d, r in enumerate(rho):  # defective: a dense inverse per draw
            out[d] += mult * trace_functionals(lam, mats, r)
    return out / n_obs


def candidate_draws(candidate: Candidate, all_channels: Sequence[str], draws: int, rng: np.random.Generator
                    ) -> tuple[pd.DataFrame, np.ndarray]:
    """Posterior draws of one candidate (see the module docstring).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        One row per draw: ``rho``, ``gamma_<c>`` for every channel of ``all_channels`` (0 outside the
        candidate), the coefficients by their design names (SDM: ``W_<x>`` for the coefficient of ``W x``),
        ``sigma2``, and per regressor ``<x>|direct``, ``<x>|indirect``, ``<x>|total`` and ``<x>|indirect|<c>``;
        and the importance-sampling point of each draw (all 0 for one channel).
    """
    design, mt, subset = candidate.design, candidate.model_type, list(candidate.channels)
    m = candidate.marginal
    if m.points is None:
        gammas, weights, fits = np.ones((1, 1)), np.ones(1), [m]
    else:
        gammas, weights, fits = m.points
    counts = _systematic(weights, draws, rng) if len(weights) > 1 else np.array([draws])
    years = distinct_years(design)
    regressors = list(design.regressors)
    lag = subset[0] if m.points is None else "conv"  # the SDM's W x columns: W_<lag>_<x>
    rows, point = [], []
    for i in np.flatnonzero(counts):
        g, k = gammas[i], int(counts[i])
        mix = design if m.points is None else _mixture_design(design, subset, g, mt)
        rho = _sample_grid(fits[i].grid, rng.uniform(size=k))
        parts = _parts(mix)
        xtx_inv = np.linalg.inv(parts.Xt.T @ parts.Xt)
        dof = design.n_obs - parts.Xt.shape[1] - design.projector.n_effects
        ssr = parts.gram[0, 0] - 2 * rho * parts.gram[0, 1] + rho**2 * parts.gram[1, 1]
        sigma2 = ssr / rng.chisquare(dof, size=k)
        beta = (parts.b0[None, :] - rho[:, None] * parts.bl[:, 0][None, :]
                + np.sqrt(sigma2)[:, None] * rng.standard_normal((k, len(parts.b0))) @ np.linalg.cholesky(xtx_inv).T)
        f = _factors(years, g, rho, design.n_obs)
        base = [j for j, nm in enumerate(mix.names) if not nm.startswith("W_")]
        out = {"rho": rho}
        for c in all_channels:
            out[f"gamma_{c}"] = np.full(k, g[subset.index(c)] if c in subset else 0.0)
        for j in base:
            out[mix.names[j]] = beta[:, j]
        if mt == "sdm":
            for x in regressors:
                out[f"W_{x}"] = beta[:, mix.names.index(f"W_{lag}_{x}")]
        out["sigma2"] = sigma2
        for x in regressors:
            b = beta[:, mix.names.index(x)]
            theta = beta[:, mix.names.index(f"W_{lag}_{x}")] if mt == "sdm" else np.zeros(k)
            direct, total, share = spillover_impacts(b, theta, g, f)
            out[f"{x}|direct"], out[f"{x}|indirect"], out[f"{x}|total"] = direct, total - direct, total
            for c in all_channels:
                out[f"{x}|indirect|{c}"] = (total - direct) * share[:, subset.index(c)] if c in subset \
                    else np.zeros(k)
        rows.append(pd.DataFrame(out))
        point.append(np.full(k, i))
    return pd.concat(rows, ignore_index=True), np.concatenate(point)


def _weighted_quantiles(v: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> list[float]:
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    cum = (cum - 0.5 * w[order]) / cum[-1]  # mid-point plotting positions
    return [float(np.interp(q, cum, v[order])) for q in qs]


def _candidate_mc_var(values: np.ndarray, point: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Monte Carlo variance of one candidate's posterior means (columns of ``values``)."""
    within = values.var(axis=0, ddof=1) / len(values)
    if weights is None:
        return within
    mean = values.mean(axis=0)
    w = weights / weights.sum()
    between = np.zeros(values.shape[1])
    for i in np.unique(point):
        between += w[i] ** 2 * (values[point == i].mean(axis=0) - mean) ** 2
    return within + between


def average_channels(choice: ChannelChoice, *, draws: int = BMA_DRAWS, seed: int = 0,
                     level: float = 0.95) -> pd.DataFrame:
    """Model-averaged posteriors and inclusion probabilities per model type (SAR, SDM; SEM candidates are not
    averaged).

    Parameters
    ----------
    choice : ChannelChoice
        From :func:`~interdep.models.bayes.marginal.choose_channels`.
    draws : int
        Posterior draws per candidate.
    seed : int
        Seed (the result is a deterministic function of it).
    level : float
        Level of the equal-tailed credible intervals.

    Returns
    -------
    pandas.DataFrame
        ``model_type, quantity (inclusion|parameter|impact), term, channel, effect, estimate, std_error,
        conf_low, conf_high, mc_error, candidates, omitted``: inclusion rows (term ``inclusion``, one per channel:
        the posterior inclusion probability, its Monte Carlo error from the log-marginals' errors); parameter rows
        (``rho``, ``gamma_<channel>``, the coefficients, SDM ``W_<x>``, ``sigma2``; posterior mean, sd, interval);
        impact rows (term = regressor; channel ``all`` for direct / indirect / total, a channel's name for the
        indirect impact it carries). ``candidates``: how many subsets were averaged; ``omitted``: the probability
        of the subsets left out (below ``WINDOW``).
    """
    table = choice.table
    channels = list(dict.fromkeys(c for cand in choice.candidates for c in cand.channels))
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out: list[dict] = []
    for mt in dict.fromkeys(table["model_type"]):
        if mt == "sem":
            continue
        rows = np.flatnonzero(table["model_type"].to_numpy() == mt)
        p = table["probability"].to_numpy()[rows]
        p = p / p.sum()
        err = table["error"].to_numpy()[rows]
        for c in channels:
            inside = np.array([c in choice.candidates[r].channels for r in rows])
            pip = float(p[inside].sum())
            grad = p * (inside - pip)
            out.append({"model_type": mt, "quantity": "inclusion", "term": "inclusion", "channel": c, "effect": "",
                        "estimate": pip, "std_error": np.nan, "conf_low": np.nan, "conf_high": np.nan,
                        "mc_error": float(np.sqrt(np.sum((grad * err) ** 2)))})
        order = np.argsort(-p, kind="stable")
        keep = order[:int(np.searchsorted(np.cumsum(p[order]), 1 - WINDOW) + 1)]
        omitted = float(max(1.0 - p[keep].sum(), 0.0))
        frames, weights, mc_var = [], [], None
        with single_thread_blas():
            for j in keep:
                cand = choice.candidates[rows[j]]
                rng = np.random.default_rng([seed, int(rows[j])])
                d, point = candidate_draws(cand, channels, draws, rng)
                frames.append(d)
                weights.append(np.full(len(d), p[j] / len(d)))
                pts = cand.marginal.points
                v = _candidate_mc_var(d.to_numpy(), point, None if pts is None else pts[1]) * p[j] ** 2
                mc_var = v if mc_var is None else mc_var + v
        pooled = pd.concat(frames, ignore_index=True).fillna(0.0)
        w = np.concatenate(weights)
        w = w / w.sum()
        mc = dict(zip(frames[0].columns, np.sqrt(mc_var), strict=True))
        for name in pooled.columns:
            v = pooled[name].to_numpy()
            mean = float(w @ v)
            sd = float(np.sqrt(max(w @ (v - mean) ** 2, 0.0)))
            low, high = _weighted_quantiles(v, w, (lo_q, hi_q))
            term, *rest = name.split("|")
            quantity = "impact" if rest else "parameter"
            channel = (rest[1] if len(rest) > 1 else "all") if rest else \
                (term.removeprefix("gamma_") if term.startswith("gamma_") else "")
            out.append({"model_type": mt, "quantity": quantity, "term": term, "channel": channel,
                        "effect": rest[0] if rest else "", "estimate": mean, "std_error": sd, "conf_low": low,
                        "conf_high": high, "mc_error": float(mc[name])})
        for r in out:
            if r["model_type"] == mt:
                r["candidates"], r["omitted"] = len(keep), omitted
    return pd.DataFrame(out, columns=["model_type", "quantity", "term", "channel", "effect", "estimate", "std_error",
                                      "conf_low", "conf_high", "mc_error", "candidates", "omitted"])

