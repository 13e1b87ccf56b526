"""``sar_conv``: a spatial-lag panel whose weights are a convex combination of channels (Debarsy & LeSage 2018).

Model (stacked by year): ``y = rho W(gamma) y + X beta + D alpha + e``, ``W_t(gamma) = sum_k gamma_k W_kt`` with
``gamma`` on the simplex, one row-standardised ``W_kt`` per channel and year (unbalanced panels, islands), ``D``
the unit and/or year dummies. ``rho`` is the strength of interdependence, ``gamma_k`` the share channel ``k``
carries. Priors: ``beta`` and the effects flat, ``sigma2`` Jeffreys (``1/sigma2``), ``gamma`` uniform on the
simplex (Dirichlet(1, ..., 1)), ``rho`` uniform on ``(-1, 1)`` (the interval on which ``I - rho W(gamma)`` is
invertible for every ``gamma``: ``W(gamma)`` is row-stochastic).

One sweep (built on :mod:`interdep.models.bayes.core`):

1. ``(rho, gamma)`` jointly by a random-walk Metropolis step in ``(rho, log(gamma_k / gamma_C))`` with ``beta``,
   the effects and ``sigma2`` integrated out: the target is ``|I - rho W(gamma)| SSR(rho gamma)^(-(n-p)/2)``
   where ``SSR`` is a quadratic form in ``c = rho gamma`` of the residuals of ``[y, W_1 y, ..., W_C y]`` on
   ``[X, D]``. The log-determinant is exact: a dense LU of each distinct year's ``I - rho W_t(gamma)``
   (``n_t <= ~200``). The proposal covariance adapts during burn-in only (Haario et al. 2001), so the kept
   draws come from a fixed Metropolis kernel;
2. ``sigma2``, ``beta`` and the effects given ``(rho, gamma)`` by :class:`~interdep.models.bayes.core.LinearGibbs`.

Impacts (LeSage & Pace 2009) of ``W(gamma)``: direct, indirect and total per regressor; the indirect impact is
split over channels by the share of the spillover whose first step runs through channel ``k``:
``rho gamma_k mean(W_k S 1) / (rho mean(W(gamma) S 1))`` with ``S = (I - rho W(gamma))^-1`` (``gamma_k`` itself
when no state is an island).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interdep.errors import InputError
from interdep.models.bayes.core import (
    Chains,
    LinearGibbs,
    mcmc_settings,
    run_chains,
    summarise_chains,
)
from interdep.models.bayes.fit import BayesFit
from interdep.models.design import Design
from interdep.models.panel_ml import distinct_years

__all__ = ["ConvexSAR", "conv_impacts", "fit_sar_conv"]

_ADAPT_EVERY = 100
_TARGET_SCALE = 2.38


@dataclass
class _State:
    rho: float
    gamma: np.ndarray
    log_target: float
    beta: np.ndarray
    sigma2: float
    step: int = 0
    accepted: int = 0


class ConvexSAR:
    """The ``sar_conv`` sampler (a :class:`~interdep.models.bayes.core.Sampler`).

    Parameters
    ----------
    design : Design
        Two or more channels.
    burn_in : int
        Sweeps during which the proposal adapts (the same number :func:`run_chains` discards).
    """

    def __init__(self, design: Design, burn_in: int):
        if len(design.channels) < 2:
            raise InputError(f"model {design.model_id!r}: sar_conv needs two or more weights channels",
                             value=design.channels)
        self.design = design
        self.channels = list(design.channels)
        self.C = len(self.channels)
        self.burn_in = burn_in
        self.gibbs = LinearGibbs(design.X, design.names, design.projector, design.model_id)
        self.wy = np.column_stack([design.lag(c, design.y) for c in self.channels])
        resid = self.gibbs.residual(np.column_stack([design.y, self.wy]))
        self.gram = resid.T @ resid
        self.half_df = 0.5 * self.gibbs.df
        self.years = distinct_years(design)  # (per-channel dense W, multiplicity) per distinct year
        self.names = [*design.names, "rho", *[f"gamma_{c}" for c in self.channels], "sigma2"]
        d = self.C  # rho and C - 1 log-ratios
        self._cov = np.diag([0.02**2] + [0.2**2] * (d - 1))
        self._history: list[np.ndarray] = []

    # ------------------------------------------------------------------------------------------ target

    def log_det(self, rho: float, gamma: np.ndarray) -> float:
        """``sum_t log|I - rho W_t(gamma)|`` (dense LU per distinct year); ``-inf`` if a determinant is <= 0."""
        total = 0.0
        for mats, mult in self.years:
            a = np.eye(mats[0].shape[0]) - rho * sum(g * m for g, m in zip(gamma, mats, strict=True))
            sign, value = np.linalg.slogdet(a)
            if sign <= 0:
                return -np.inf
            total += mult * value
        return total

    def log_target(self, rho: float, gamma: np.ndarray) -> float:
        """Log posterior of ``(rho, gamma)`` with ``beta``, the effects and ``sigma2`` integrated out (up to a
        constant), in the coordinates ``(rho, gamma)`` (uniform priors)."""
        if not -1.0 < rho < 1.0:
            return -np.inf
        v = np.concatenate([[1.0], -rho * gamma])
        ssr = float(v @ self.gram @ v)
        if ssr <= 0:
            return -np.inf
        return self.log_det(rho, gamma) - self.half_df * np.log(ssr)

    @staticmethod
    def _to_z(rho: float, gamma: np.ndarray) -> np.ndarray:
        return np.concatenate([[rho], np.log(gamma[:-1] / gamma[-1])])

    @staticmethod
    def _from_z(z: np.ndarray) -> tuple[float, np.ndarray]:
        e = np.exp(np.concatenate([z[1:], [0.0]]) - max(z[1:].max(initial=0.0), 0.0))
        return float(z[0]), e / e.sum()

    # ------------------------------------------------------------------------------------------ sampler

    def _linear(self, rho: float, gamma: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        v = self.design.y - rho * (self.wy @ gamma)
        beta, sigma2, _ = self.gibbs.draw(v, rng, {"sigma2_shape": 0.0, "sigma2_rate": 0.0})
        return beta, sigma2

    def initial(self, chain: int, chains: int, rng: np.random.Generator) -> _State:
        """Dispersed starts: ``rho`` spread over ``(-0.2, 0.6)``, ``gamma`` from the prior."""
        rho = -0.2 + 0.8 * (chain + 0.5) / max(chains, 1)
        gamma = rng.dirichlet(np.ones(self.C))
        beta, sigma2 = self._linear(rho, gamma, rng)
        self._cov = np.diag([0.02**2] + [0.2**2] * (self.C - 1))
        self._history = []
        return _State(rho, gamma, self.log_target(rho, gamma), beta, sigma2)

    def step(self, s: _State, rng: np.random.Generator) -> _State:
        z = self._to_z(s.rho, s.gamma)
        z_new = z + np.linalg.cholesky(self._cov) @ rng.standard_normal(self.C)
        rho_new, gamma_new = self._from_z(z_new)
        lt_new = self.log_target(rho_new, gamma_new)
        # Jacobian of gamma -> log-ratios: prod_k gamma_k (uniform prior on the simplex)
        log_ratio = lt_new - s.log_target + np.sum(np.log(gamma_new)) - np.sum(np.log(s.gamma))
        if np.log(rng.uniform()) < log_ratio:
            s.rho, s.gamma, s.log_target = rho_new, gamma_new, lt_new
            s.accepted += 1
        s.step += 1
        if s.step <= self.burn_in:
            self._adapt(s)
        s.beta, s.sigma2 = self._linear(s.rho, s.gamma, rng)
        return s

    def _adapt(self, s: _State) -> None:
        """Burn-in only: the proposal covariance from the chain's draws so far, scaled by acceptance."""
        self._history.append(self._to_z(s.rho, s.gamma))
        if s.step % _ADAPT_EVERY or len(self._history) < 2 * _ADAPT_EVERY:
            return
        h = np.array(self._history[len(self._history) // 2:])
        cov = np.atleast_2d(np.cov(h, rowvar=False)) + 1e-8 * np.eye(self.C)
        self._cov = _TARGET_SCALE**2 / self.C * cov

    def record(self, s: _State) -> np.ndarray:
        return np.concatenate([s.beta, [s.rho], s.gamma, [s.sigma2]])

    def extra(self, s: _State) -> np.ndarray:
        """Impact factors at this draw: mean diag(S), mean row sum of S, and each channel's share of the
        spillover (``S = (I - rho W(gamma))^-1``)."""
        n = 0
        diag = total = 0.0
        first = np.zeros(self.C)
        for mats, mult in self.years:
            w = sum(g * m for g, m in zip(s.gamma, mats, strict=True))
            nt = w.shape[0]
            inv = np.linalg.inv(np.eye(nt) - s.rho * w)
            rows = inv.sum(axis=1)
            diag += mult * np.trace(inv)
            total += mult * rows.sum()
            first += mult * s.rho * s.gamma * np.array([(m @ rows).sum() for m in mats])
            n += mult * nt
        share = first / first.sum() if first.sum() != 0 else np.full(self.C, 1.0 / self.C)
        return np.concatenate([[diag / n, total / n], share])

    def run(self, *, draws: int, burn_in: int, chains: int, thin: int, seed: int,
            impact_draws: int = 1000) -> Chains:
        """:func:`run_chains` with the impact factors on at most ``impact_draws`` draws."""
        self.burn_in = burn_in
        every = max(1, int(np.ceil(draws * chains / max(impact_draws, 1)))) if impact_draws else 0
        return run_chains(self, draws=draws, burn_in=burn_in, chains=chains, thin=thin, seed=seed,
                          extra_every=every)


def conv_impacts(chains: Chains, model: ConvexSAR, level: float = 0.95) -> pd.DataFrame:
    """Direct / indirect / total impacts per regressor (channel = the channels joined by ``+``), and the indirect
    impact carried by each channel (channel = its name), with posterior sds and equal-tailed intervals."""
    factors = chains.extra["values"].reshape(-1, 2 + model.C)
    params = chains.extra["params"].reshape(-1, chains.draws.shape[2])
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows: list[dict[str, Any]] = []

    def add(term: str, channel: str, effect: str, v: np.ndarray) -> None:
        rows.append({"term": term, "channel": channel, "effect": effect, "estimate": float(v.mean()),
                     "std_error": float(v.std(ddof=1)), "conf_low": float(np.quantile(v, lo_q)),
                     "conf_high": float(np.quantile(v, hi_q))})

    for x in model.design.regressors:
        b = params[:, chains.names.index(x)]
        direct, total = b * factors[:, 0], b * factors[:, 1]
        for effect, v in (("direct", direct), ("indirect", total - direct), ("total", total)):
            add(x, "+".join(model.channels), effect, v)
        for k, c in enumerate(model.channels):
            add(x, c, "indirect", (total - direct) * factors[:, 2 + k])
    return pd.DataFrame(rows)


def fit_conv(design: Design, mcmc: Mapping[str, int], impact_draws: int = 1000) -> tuple[Chains, ConvexSAR]:
    """Build the sampler and run its chains (summaries: :mod:`interdep.models.bayes.fit`)."""
    model = ConvexSAR(design, mcmc["burn_in"])
    chains = model.run(draws=mcmc["draws"], burn_in=mcmc["burn_in"], chains=mcmc["chains"], thin=mcmc["thin"],
                       seed=mcmc["seed"], impact_draws=impact_draws)
    return chains, model


def fit_sar_conv(spec: Mapping[str, Any], design: Design) -> BayesFit:
    """Run ``sar_conv`` with the spec's ``mcmc`` settings; summaries, convergence and fit.json's ``mcmc`` block
    as for the other MCMC estimators (:mod:`interdep.models.bayes.fit`)."""
    mcmc = mcmc_settings(spec)
    if spec.get("priors"):
        raise InputError(f"model {spec.get('id')!r}: sar_conv has fixed priors (no 'priors' key)",
                         value=spec["priors"])
    chains, model = fit_conv(design, mcmc, int(spec.get("impact_draws", 1000)) or 1000)
    estimate, diag, block = summarise_chains(chains, mcmc, estimator="sar_conv", n_obs=design.n_obs,
                                             sigma2_term=None)
    pooled = chains.pooled
    rho = pooled[:, chains.names.index("rho")]
    block.update({
        "priors": {"beta": "flat", "effects": "flat (unit and/or year dummies drawn with beta)",
                   "sigma2": "Jeffreys 1/sigma2", "gamma": "uniform on the simplex (Dirichlet(1, ..., 1))",
                   "rho": "uniform on (-1, 1)"},
        "gamma": {c: float(pooled[:, chains.names.index(f"gamma_{c}")].mean()) for c in model.channels},
        "rho_by_channel": {c: float((rho * pooled[:, chains.names.index(f"gamma_{c}")]).mean())
                           for c in model.channels},
    })
    estimate.sigma2 = float(pooled[:, chains.names.index("sigma2")].mean())
    estimate.diagnostics["notes"] = [
        "posterior summaries: estimate = posterior mean, std_error = posterior sd, conf_low/conf_high = 95% "
        "equal-tailed credible interval, p_value = two-sided posterior tail probability",
        "W = sum_k gamma_k W_k; fit.json rho = posterior mean of rho * gamma_k per channel (the channel's rho in "
        "the several-rho model); impacts: indirect split over channels by first-step shares",
    ]
    impacts = conv_impacts(chains, model)
    impacts.attrs["draws_used"] = block["impact_draws"]
    return BayesFit(estimate=estimate, impacts=impacts, chains=chains, mcmc=block)
