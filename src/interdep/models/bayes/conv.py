"""``sar_conv``: a spatial-lag panel whose weights are a convex combination of channels (Debarsy & LeSage 2018).

Model (stacked by year): ``y = rho W(gamma) y + X beta + D alpha + e``, ``W_t(gamma) = sum_k gamma_k W_kt`` with
``gamma`` on the simplex, one row-standardised ``W_kt`` per channel and year (unbalanced panels, islands), ``D``
the unit and/or year dummies. ``rho`` is the strength of interdependence, ``gamma_k`` the share channel ``k``
carries. Priors: ``beta`` and the effects flat, ``sigma2`` Jeffreys (``1/sigma2``), ``gamma`` uniform on the
simplex (Dirichlet(1, ..., 1)), ``rho`` uniform on ``(-1, 1)`` (the interval on which ``I - rho W(gamma)`` is
invertible for every ``gamma``: ``W(gamma)`` is row-stochastic).

One sweep (built on :mod:`interdep.models.bayes.core`):

1. ``(rho, gamma)`` jointly by a random-walk Metropolis step in ``(rho, log(gamma_k / gamma_C))`` with ``beta``,
   the effects and ``sigma2`` integrated out: the target is ``exp(J(rho, gamma)) SSR(rho gamma)^(-(n-p)/2)``
   where ``SSR`` is a quadratic form in ``c = rho gamma`` of the residuals of ``[y, W_1 y, ..., W_C y]`` on
   ``[X, D]`` and ``J`` the log-Jacobian adjusted for the fixed effects, ``sum_t log|A_t| - tr(P_tt log A_t)``
   (:class:`ConvexLogJacobian`; without the adjustment, integrating the effects out pulls ``rho`` towards 0 by
   ``O(p/n)``, see :func:`~interdep.models.bayes.core.effects_jacobian_weights`). Accuracy: the log-determinants
   are exact (one batched dense LU of the distinct years' ``I - rho W_t(gamma)``); the part of the adjustment
   that is not exact in closed form (the unit effects' and, in years with islands, the year effects') is a trace
   series of order ``M`` whose error is at most ``bound(rho)`` (fit.json ``mcmc.log_jacobian``: the bound at the
   largest ``|rho|`` drawn; 0 for time effects without islands and for balanced panels with fixed ``W``,
   where ``J`` is Lee & Yu's transformed Jacobian). Speed: delayed acceptance (Christen & Fox 2005) - each
   proposal is first screened with the Taylor series of the log-determinants (Debarsy & LeSage's traces of
   products of the ``W_k``), and only the proposals that pass are evaluated exactly, so the chain targets the
   exact posterior while most rejections cost no LU. The random walk's covariance adapts during burn-in only
   (Haario et al. 2001); after burn-in the sweeps alternate that fixed random walk with an independence
   proposal, a multivariate t (5 df, 1.5 times the sd of the second half of the burn-in draws), which moves
   ``gamma`` across its posterior in one step (the random walk alone mixed slowly in ``gamma``: effective
   sample size about 1 per 8 draws on the benchmark's N = 190, T = 10 panel, about 1 per 4 with the
   alternation). Both are fixed Metropolis-Hastings kernels after burn-in, so the kept draws target the
   exact posterior;
2. ``sigma2``, ``beta`` and the effects given ``(rho, gamma)`` by :class:`~interdep.models.bayes.core.LinearGibbs`.

Impacts (LeSage & Pace 2009) of ``W(gamma)``: direct, indirect and total per regressor; the indirect impact is
split over channels by the share of the spillover whose first step runs through channel ``k``:
``rho gamma_k mean(W_k S 1) / (rho mean(W(gamma) S 1))`` with ``S = (I - rho W(gamma))^-1`` (``gamma_k`` itself
when no state is an island).

``sdm_conv`` (:class:`ConvexSDM`): the same with ``W(gamma) X theta`` added, by the same sampler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

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
from interdep.models.panel_ml import distinct_years, matrix_key, single_thread_blas

__all__ = ["ConvexLogJacobian", "ConvexSAR", "ConvexSDM", "conv_impacts", "fit_conv", "fit_convex", "series_order",
           "spillover_impacts", "trace_functionals"]

_ADAPT_EVERY = 100
_TARGET_SCALE = 2.38
_T_DF = 5.0  # the independence proposal: a multivariate t with 5 df ...
_T_INFLATE = 1.5  # ... and 1.5 times the burn-in draws' sd (both: tails heavier than the posterior's)


@dataclass
class _State:
    rho: float
    gamma: np.ndarray
    log_target: float
    beta: np.ndarray
    sigma2: float
    surrogate: float = 0.0  # the log target with the series log-determinants
    step: int = 0
    accepted: int = 0


# ----------------------------------------------------------------------------------------- log-Jacobian

_MONOMIALS = 500  # the series order is the largest with at most this many monomials of gamma (per group)
_MAX_ORDER = 16


def series_order(channels: int) -> int:
    """The order ``M`` of the trace series: the largest ``M <= 16`` with at most 500 monomials ``gamma^alpha``,
    ``1 <= |alpha| <= M`` (2 channels: 16, 3: 12, 4: 8, 5: 6)."""
    M = 1
    while M < _MAX_ORDER and comb(M + 1 + channels, channels) - 1 <= _MONOMIALS:
        M += 1
    return M


def _exponents(channels: int, order: int) -> list[list[tuple[int, ...]]]:
    """The exponent vectors ``alpha`` of each degree ``0..order`` (sorted, so the layout is deterministic)."""
    levels = [[(0,) * channels]]
    for _ in range(order):
        nxt = {tuple(a[j] + (j == k) for j in range(channels)) for a in levels[-1] for k in range(channels)}
        levels.append(sorted(nxt, reverse=True))
    return levels


class ConvexLogJacobian:
    """``rho``'s log-Jacobian in ``W(gamma) = sum_k gamma_k W_k``, adjusted for the fixed effects.

    ``J(rho, gamma) = sum_t log|A_t| - tr(P_tt log A_t)``, ``A_t = I - rho W_t(gamma)``, ``P_tt`` year ``t``'s
    block of the projection on the effects' dummies (:func:`~interdep.models.bayes.core.effects_jacobian_weights`
    for one fixed ``W``; ``P = 0`` without effects or with ``adjust=False``). With ``e_t`` the median
    off-diagonal element of ``P_tt`` in years where every channel's rows sum to 1 (then ``W_t(gamma) 1 = 1`` and
    ``tr(11' log A_t) = n_t log(1 - rho)``; ``e_t = 0`` in other years), ``d_t`` the median of
    ``diag(P_tt) - e_t`` and ``R_t = P_tt - e_t 11' - d_t I``::

        J = sum_t (1 - d_t) log|A_t| - e_t n_t log(1 - rho) - tr(R_t log A_t)

    In the balanced fixed-``W`` case ``R_t = 0`` and ``J`` is Lee & Yu's transformed Jacobian.

    * ``exact(rho, gamma)``: ``log|A_t|`` exact, by one batched LU of the distinct years' matrices (padded with
      the identity to a common size, which leaves each determinant unchanged);
    * ``series(rho, gamma)``: ``log|A_t|`` by its Taylor series ``-sum_m rho^m tr(W_t(gamma)^m) / m`` to order
      ``M`` (Debarsy & LeSage), the surrogate of the delayed-acceptance sampler (no error bound needed there);
    * both use the series ``tr(R_t log A_t) = -sum_m rho^m tr(R_t W_t(gamma)^m) / m`` to order ``M``: with
      ``W_t(gamma) >= 0`` with row sums <= 1, ``|tr(R_t W^m)| <= b_t = sum_j max_i |R_t,ij|``, so its error is at
      most ``bound(rho) = sum_t b_t |rho|^(M+1) / ((M+1) (1 - |rho|))`` (tested against ``logm``).

    ``tr(W_t(gamma)^m) = sum_{|alpha| = m} gamma^alpha tr(S_t,alpha)`` (``S_alpha`` the sum of the products of the
    ``W_k`` with ``alpha_k`` factors ``W_k``), and likewise with ``R_t``: the traces are computed once, by the
    recursion ``S_alpha = sum_k W_k S_(alpha - e_k)`` over the distinct years.
    """

    def __init__(self, design: Design, channels: list[str], adjust: bool = True, order: int | None = None):
        self.C = len(channels)
        self.order = order or series_order(self.C)
        self.adjusted = adjust and design.projector.D is not None
        groups: dict[str, list[int]] = {}
        for t in range(design.n_periods):
            key = "|".join(matrix_key(design.weights[c][t]) for c in channels)
            groups.setdefault(key, []).append(t)
        levels = _exponents(self.C, self.order)
        self.exps = np.array([a for lv in levels[1:] for a in lv], dtype=float)  # (K, C)
        self.degree = self.exps.sum(axis=1)
        log_coef = np.zeros(len(self.exps))  # coefficients of rho^|a| gamma^a in sum_t (1 - d_t) log|A_t|
        adj_coef = np.zeros(len(self.exps))  # ... in tr(R_t log A_t)
        self.bound_constant = 0.0
        self.year_d = np.zeros(design.n_periods)  # d_t per year
        self.time_weight = 0.0  # sum_t e_t n_t: the part of P_tt on 11' where W_t(gamma) 1 = 1 (exact)
        mats, weights = [], []
        proj = design.projector
        for years in groups.values():
            ws = [sp.csr_array(design.weights[c][years[0]]) for c in channels]
            for k, w in enumerate(ws):
                if w.nnz and (w.data.min() < 0 or w.sum(axis=1).max() > 1 + 1e-9):
                    raise InputError(f"model {design.model_id!r}: sar_conv needs non-negative weights with row sums "
                                     f"<= 1 (row-standardised); channel {channels[k]!r} is not", value=channels[k])
            n = ws[0].shape[0]
            stochastic = all(np.allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-9) for w in ws)
            r_sum = np.zeros((n, n))
            weight = 0.0
            for t in years:
                if self.adjusted:
                    d_t = proj.D[design.blocks[t]].toarray()
                    p_tt = d_t @ proj._dtd_pinv @ d_t.T
                    e_t = float(np.median(p_tt[~np.eye(n, dtype=bool)])) if stochastic and n > 1 else 0.0
                    self.time_weight += e_t * n
                    d_bar = float(np.median(np.diag(p_tt))) - e_t
                    r_t = p_tt - e_t - d_bar * np.eye(n)
                    self.year_d[t] = d_bar
                    r_sum += r_t
                    self.bound_constant += float(np.abs(r_t).max(axis=0).sum())
                    weight += 1.0 - d_bar
                else:
                    weight += 1.0
            mats.append([w.toarray() for w in ws])
            weights.append(weight)
            # the recursion over degrees: level m as one (n, K_m * n) array, W_k @ level in one product
            prev, prev_index = np.eye(n)[:, None, :], {levels[0][0]: 0}
            pos = 0
            for m in range(1, self.order + 1):
                prods = [w @ prev.reshape(n, -1) for w in ws]
                prods = [p.reshape(n, len(prev_index), n) for p in prods]
                cur = np.zeros((n, len(levels[m]), n))
                for j, a in enumerate(levels[m]):
                    for k in range(self.C):
                        if a[k]:
                            cur[:, j, :] += prods[k][:, prev_index[tuple(a[i] - (i == k) for i in range(self.C))], :]
                tr = np.einsum("iji->j", cur)
                log_coef[pos:pos + len(levels[m])] -= weight * tr / m
                if self.adjusted:
                    adj_coef[pos:pos + len(levels[m])] -= (cur * r_sum.T[:, None, :]).sum(axis=(0, 2)) / m
                prev, prev_index = cur, {a: j for j, a in enumerate(levels[m])}
                pos += len(levels[m])
        self.log_coef, self.adj_coef = log_coef, adj_coef
        n_max = max(len(m[0]) for m in mats)
        self._w = np.zeros((self.C, len(mats), n_max, n_max))
        for g, ms in enumerate(mats):
            for k, m in enumerate(ms):
                self._w[k, g, :len(m), :len(m)] = m
        self._w = self._w.reshape(self.C, -1)
        self._eye = np.broadcast_to(np.eye(n_max), (len(mats), n_max, n_max))
        self._shape = (len(mats), n_max, n_max)
        self.group_weights = np.array(weights)

    def _monomials(self, rho: float | np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """``rho^|a| gamma^a`` for every exponent ``a`` (for a vector of ``rho``: one row per value)."""
        powers = np.power.outer(rho, np.arange(self.order + 1, dtype=float))
        return powers[..., self.degree.astype(int)] * np.prod(gamma[None, :] ** self.exps, axis=1)

    def adjustment(self, rho: float, gamma: np.ndarray) -> float:
        """``sum_t tr(R_t log A_t)`` by the series (0 without adjustment)."""
        if not self.adjusted:
            return 0.0
        return self.time_weight * np.log1p(-rho) + float(self.adj_coef @ self._monomials(rho, gamma))

    def adjustments(self, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """:meth:`adjustment` on a vector of ``rho``."""
        if not self.adjusted:
            return np.zeros(len(rho))
        return self.time_weight * np.log1p(-rho) + self._monomials(rho, gamma) @ self.adj_coef

    def log_dets(self, rho: float, gamma: np.ndarray) -> float:
        """``sum_t (1 - d_t) log|A_t|`` exact (batched LU); ``-inf`` if a determinant is <= 0."""
        a = self._eye - rho * (gamma @ self._w).reshape(self._shape)
        sign, value = np.linalg.slogdet(a)
        if np.any(sign <= 0):
            return -np.inf
        return float(value @ self.group_weights)

    def exact(self, rho: float, gamma: np.ndarray) -> float:
        """``J(rho, gamma)`` with exact log-determinants (the adjustment within :meth:`bound`)."""
        return self.log_dets(rho, gamma) - self.adjustment(rho, gamma)

    def series(self, rho: float, gamma: np.ndarray) -> float:
        """``J(rho, gamma)`` with the log-determinants by their Taylor series too (the surrogate)."""
        if not self.adjusted:
            return float(self.log_coef @ self._monomials(rho, gamma))
        return float(self.log_coef @ self._monomials(rho, gamma)) - self.adjustment(rho, gamma)

    def bound(self, rho: float) -> float:
        """The largest error of the adjustment's series at ``rho`` (0 without adjustment)."""
        r, M = abs(rho), self.order
        return self.bound_constant * r ** (M + 1) / ((M + 1) * (1 - r)) if self.adjusted and r < 1 else 0.0


class ConvexSAR:
    """The ``sar_conv`` sampler (a :class:`~interdep.models.bayes.core.Sampler`).

    Parameters
    ----------
    design : Design
        Two or more channels.
    burn_in : int
        Sweeps during which the proposal adapts (the same number :func:`run_chains` discards).
    """

    def __init__(self, design: Design, burn_in: int, adjust: bool = True):
        if len(design.channels) < 2:
            raise InputError(f"model {design.model_id!r}: sar_conv needs two or more weights channels",
                             value=design.channels)
        self.design = design
        self.channels = list(design.channels)
        self.C = len(self.channels)
        self.burn_in = burn_in
        self.wy = np.column_stack([design.lag(c, design.y) for c in self.channels])
        self.coefficient_names = self._setup_linear()
        self.years = distinct_years(design)  # (per-channel dense W, multiplicity) per distinct year
        with single_thread_blas():
            self.jacobian = ConvexLogJacobian(design, self.channels, adjust=adjust)
        self.names = [*self.coefficient_names, "rho", *[f"gamma_{c}" for c in self.channels], "sigma2"]
        d = self.C  # rho and C - 1 log-ratios
        self._cov = np.diag([0.02**2] + [0.2**2] * (d - 1))
        self._history: list[np.ndarray] = []
        self._independence: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.exact_evaluations = 0

    def _setup_linear(self) -> list[str]:
        """The pieces of the quadratic form and of the Gibbs step (the SAR's design does not depend on
        ``gamma``); returns the coefficients' names."""
        d = self.design
        self.gibbs = LinearGibbs(d.X, d.names, d.projector, d.model_id)
        resid = self.gibbs.residual(np.column_stack([d.y, self.wy]))
        self.gram = resid.T @ resid
        self.half_df = 0.5 * self.gibbs.df
        return list(d.names)

    # ------------------------------------------------------------------------------------------ target

    def log_det(self, rho: float, gamma: np.ndarray) -> float:
        """``sum_t log|I - rho W_t(gamma)|`` (dense LU per distinct year, unadjusted); ``-inf`` if a determinant
        is <= 0."""
        total = 0.0
        for mats, mult in self.years:
            a = np.eye(mats[0].shape[0]) - rho * sum(g * m for g, m in zip(gamma, mats, strict=True))
            sign, value = np.linalg.slogdet(a)
            if sign <= 0:
                return -np.inf
            total += mult * value
        return total

    def _quadratic(self, rho: float, gamma: np.ndarray) -> float:
        v = np.concatenate([[1.0], -rho * gamma])
        ssr = float(v @ self.gram @ v)
        return -self.half_df * np.log(ssr) if ssr > 0 else -np.inf

    def log_target(self, rho: float, gamma: np.ndarray, surrogate: bool = False) -> float:
        """Log posterior of ``(rho, gamma)`` with ``beta``, the effects and ``sigma2`` integrated out (up to a
        constant), in the coordinates ``(rho, gamma)`` (uniform priors): the adjusted log-Jacobian of
        :class:`ConvexLogJacobian` (``surrogate``: with the series log-determinants) plus the quadratic form."""
        if not -1.0 < rho < 1.0:
            return -np.inf
        if surrogate:
            return self.jacobian.series(rho, gamma) + self._quadratic(rho, gamma)
        self.exact_evaluations += 1
        return self.jacobian.exact(rho, gamma) + self._quadratic(rho, gamma)

    def jacobian_facts(self, rho_max: float) -> dict[str, Any]:
        """How the log-Jacobian was computed, for fit.json (``rho_max``: the largest ``|rho|`` drawn)."""
        jac = self.jacobian
        return {
            "method": "exact log-determinants (batched dense LU) behind a delayed-acceptance screen (Taylor "
                      "series of the log-determinants)" + ("; effects adjustment log|A| - tr(P_D log A), its "
                      "non-closed-form part by a trace series" if jac.adjusted else "; not adjusted for effects"),
            "adjusted": jac.adjusted,
            "series_order": jac.order,
            "adjustment_error_bound": jac.bound(rho_max),
            "exact_evaluations": self.exact_evaluations,
        }

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
        self._independence = None
        return _State(rho, gamma, self.log_target(rho, gamma), beta, sigma2,
                      self.log_target(rho, gamma, surrogate=True))

    def step(self, s: _State, rng: np.random.Generator) -> _State:
        """One sweep: a delayed-acceptance Metropolis-Hastings step for ``(rho, gamma)``, then ``beta`` and
        ``sigma2`` by Gibbs. During burn-in the step is a random walk whose covariance adapts; after it the
        sweeps alternate between that (now fixed) random walk and an independence proposal, a multivariate t
        (5 df) centred on the mean of the second half of the burn-in draws with 1.5 times their sd (heavy tails,
        so a short or skewed burn-in does not leave the chain stuck where the posterior exceeds the proposal),
        which moves ``gamma`` across its posterior in one step where the random walk needs many. Both are fixed
        Metropolis-Hastings kernels after burn-in that leave the exact posterior invariant, and so is their
        alternation."""
        if s.step >= self.burn_in and self._independence is not None and (s.step - self.burn_in) % 2:
            self._independence_step(s, rng)
        else:
            self._random_walk_step(s, rng)
        s.step += 1
        if s.step <= self.burn_in:
            self._adapt(s)
        s.beta, s.sigma2 = self._linear(s.rho, s.gamma, rng)
        return s

    def _delayed_acceptance(self, s: _State, z_new: np.ndarray, log_q_ratio: float,
                            rng: np.random.Generator) -> None:
        """Delayed acceptance (Christen & Fox 2005): the proposal is screened with the series log-determinants
        (``log_q_ratio``: log q(z | z_new) - log q(z_new | z), 0 for a random walk); only a proposal that passes
        is evaluated exactly, and accepted with the ratio that corrects the screen's error (the chain's
        stationary distribution is the exact posterior)."""
        rho_new, gamma_new = self._from_z(z_new)
        sur_new = self.log_target(rho_new, gamma_new, surrogate=True)
        # Jacobian of gamma -> log-ratios: prod_k gamma_k (uniform prior on the simplex)
        log_jac = np.sum(np.log(gamma_new)) - np.sum(np.log(s.gamma))
        if np.log(rng.uniform()) < sur_new - s.surrogate + log_jac + log_q_ratio:
            lt_new = self.log_target(rho_new, gamma_new)
            if np.log(rng.uniform()) < (lt_new - sur_new) - (s.log_target - s.surrogate):
                s.rho, s.gamma, s.log_target, s.surrogate = rho_new, gamma_new, lt_new, sur_new
                s.accepted += 1

    def _random_walk_step(self, s: _State, rng: np.random.Generator) -> None:
        z = self._to_z(s.rho, s.gamma)
        self._delayed_acceptance(s, z + np.linalg.cholesky(self._cov) @ rng.standard_normal(self.C), 0.0, rng)

    def _independence_step(self, s: _State, rng: np.random.Generator) -> None:
        assert self._independence is not None
        mean, chol, prec = self._independence
        z_new = mean + chol @ rng.standard_normal(self.C) * np.sqrt(_T_DF / rng.chisquare(_T_DF))

        def log_q(z: np.ndarray) -> float:  # the multivariate t's log density, up to a constant
            dz = z - mean
            return -0.5 * (_T_DF + self.C) * np.log1p(float(dz @ prec @ dz) / _T_DF)

        self._delayed_acceptance(s, z_new, log_q(self._to_z(s.rho, s.gamma)) - log_q(z_new), rng)

    def _adapt(self, s: _State) -> None:
        """Burn-in only: every 100 sweeps the random walk's covariance from the second half of the chain's draws
        so far (Haario et al.'s scale ``2.38^2 / d``); at the last burn-in sweep (with at least 100 draws) the
        independence proposal's location and scale from the same draws."""
        self._history.append(self._to_z(s.rho, s.gamma))
        last = s.step == self.burn_in and len(self._history) >= _ADAPT_EVERY
        if not last and (s.step % _ADAPT_EVERY or len(self._history) < 2 * _ADAPT_EVERY):
            return
        h = np.array(self._history[len(self._history) // 2:])
        cov = np.atleast_2d(np.cov(h, rowvar=False)) + 1e-8 * np.eye(self.C)
        if not s.step % _ADAPT_EVERY and len(self._history) >= 2 * _ADAPT_EVERY:
            self._cov = _TARGET_SCALE**2 / self.C * cov
        if last:
            scale = _T_INFLATE**2 * cov
            self._independence = (h.mean(axis=0), np.linalg.cholesky(scale), np.linalg.inv(scale))

    def record(self, s: _State) -> np.ndarray:
        return np.concatenate([s.beta, [s.rho], s.gamma, [s.sigma2]])

    def extra(self, s: _State) -> np.ndarray:
        """Impact functionals at this draw, :func:`trace_functionals` averaged over the state-years."""
        out = np.zeros(4 + self.C)
        n = 0
        for mats, mult in self.years:
            w = sum(g * m for g, m in zip(s.gamma, mats, strict=True))
            out += mult * trace_functionals(w, mats, s.rho)
            n += mult * w.shape[0]
        return out / n

    def run(self, *, draws: int, burn_in: int, chains: int, thin: int, seed: int,
            impact_draws: int = 1000) -> Chains:
        """:func:`run_chains` with the impact factors on at most ``impact_draws`` draws."""
        self.burn_in = burn_in
        every = max(1, int(np.ceil(draws * chains / max(impact_draws, 1)))) if impact_draws else 0
        return run_chains(self, draws=draws, burn_in=burn_in, chains=chains, thin=thin, seed=seed,
                          extra_every=every)


class ConvexSDM(ConvexSAR):
    """The ``sdm_conv`` sampler: ``y = rho W(gamma) y + X beta + W(gamma) X_w theta + D alpha + e``, the spatial
    Durbin model with the same convex combination in the lag of ``y`` and of the regressors ``X_w``
    (``wx_regressors``; Debarsy & LeSage 2018), the marginal likelihood's SDM candidate of a channel subset
    (:func:`~interdep.models.bayes.marginal.subset_marginal`). The design depends on ``gamma`` through
    ``W(gamma) X_w = sum_k gamma_k W_k X_w``, so the quadratic form with ``beta``, ``theta`` and the effects
    integrated out is computed from one Gram matrix of the projected ``[y, W_k y, X, W_k X_w]`` (``Q`` the
    effects' residual maker): with ``a = (1, -rho gamma)`` and ``M(gamma)`` the map from
    ``[X, W_1 X_w, ..., W_C X_w]`` to ``[X, W(gamma) X_w]``, ``SSR = a'G_yy a - c'(M'G_xx M)^-1 c``,
    ``c = M'G_xy a``. Step 2 draws ``sigma2 = SSR / chi2(n - p)`` and ``(beta, theta) ~ N(b, sigma2
    (M'G_xx M)^-1)``, their exact joint conditional given ``(rho, gamma)`` with the effects integrated out
    (so the effects are not drawn). Step 1 and the log-Jacobian are the SAR's.

    Convention: LeSage's code and spmixw's ``sdm_conv_panel`` give each channel its own ``theta_k``
    (``W_1 X theta_1 + ... + W_C X theta_C``, i.e. the SAR sampler on ``X`` augmented with every ``W_k X``), so
    ``gamma`` describes the lag of ``y`` only; here one ``theta`` and the same ``gamma`` carry both lags (``C - 1``
    times ``k`` fewer coefficients), which makes each channel's share of the spillover one number.
    """

    def _setup_linear(self) -> list[str]:
        d = self.design
        base = [j for j, nm in enumerate(d.names) if not nm.startswith("W_")]
        lagged = {f"W_{c}_{x}" for c in self.channels for x in d.regressors}
        other = [nm for nm in d.names if nm.startswith("W_") and nm not in lagged]
        if other:
            raise InputError(f"model {d.model_id!r}: sdm_conv takes no spatially lagged terms other than W x "
                             "(e.g. no dynamic W y_t-1)", value=other)
        self.wx = [x for x in d.regressors if f"W_{self.channels[0]}_{x}" in d.names]
        lags = [[d.names.index(f"W_{c}_{x}") for x in self.wx] for c in self.channels]
        z = d.projector(np.column_stack([d.y, self.wy, d.X[:, base], *[d.X[:, cols] for cols in lags]]))
        self.gram = z.T @ z
        kb, kw = self._sizes = len(base), len(self.wx)
        p = kb + kw + d.projector.n_effects
        self.half_df = 0.5 * (d.n_obs - p)
        if self.half_df <= 0:
            raise InputError(f"model {d.model_id!r}: {d.n_obs} observations for {p} coefficients and effects",
                             value=d.n_obs)
        return [d.names[j] for j in base] + [f"W_{x}" for x in self.wx]

    def _normal_equations(self, rho: float, gamma: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """``a'G_yy a``, ``M'G_xx M`` and ``M'G_xy a`` at ``(rho, gamma)``."""
        C, (kb, kw) = self.C, self._sizes
        m = np.zeros((kb + C * kw, kb + kw))  # M(gamma): [X, W_1 X_w, ..., W_C X_w] -> [X, W(gamma) X_w]
        m[:kb, :kb] = np.eye(kb)
        for k in range(C):
            m[kb + k * kw:kb + (k + 1) * kw, kb:] = gamma[k] * np.eye(kw)
        a = np.concatenate([[1.0], -rho * gamma])
        gyy, gxy, gxx = self.gram[:C + 1, :C + 1], self.gram[C + 1:, :C + 1], self.gram[C + 1:, C + 1:]
        return float(a @ gyy @ a), m.T @ gxx @ m, m.T @ (gxy @ a)

    def _quadratic(self, rho: float, gamma: np.ndarray) -> float:
        yy, xx, xy = self._normal_equations(rho, gamma)
        ssr = yy - float(xy @ np.linalg.solve(xx, xy))
        return -self.half_df * np.log(ssr) if ssr > 0 else -np.inf

    def _linear(self, rho: float, gamma: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        yy, xx, xy = self._normal_equations(rho, gamma)
        chol = np.linalg.cholesky(xx)
        b = np.linalg.solve(xx, xy)
        sigma2 = (yy - float(xy @ b)) / rng.chisquare(2 * self.half_df)
        beta = b + np.sqrt(sigma2) * np.linalg.solve(chol.T, rng.standard_normal(len(b)))
        return beta, sigma2


def trace_functionals(w: np.ndarray, mats: Sequence[np.ndarray], rho: float) -> np.ndarray:
    """For one year's dense ``W = sum_k gamma_k W_k`` (``mats``: the ``W_k``) and ``rho``: ``[tr S, tr SW, 1'S1,
    1'SW1, 1'W_k S 1 (k = 1..C)]``, ``S = (I - rho W)^-1`` (a dense inverse)."""
    s = np.linalg.inv(np.eye(w.shape[0]) - rho * w)
    s1 = s.sum(axis=1)
    return np.array([np.trace(s), float(np.sum(s * w.T)), s1.sum(), float(s.sum(axis=0) @ w.sum(axis=1)),
                     *[float(m.sum(axis=0) @ s1) for m in mats]])


def spillover_impacts(beta: np.ndarray, theta: np.ndarray | float, gamma: np.ndarray, f: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct and total impacts of a regressor and each channel's share of its spillover, per draw.

    ``f`` (draws, 4 + C): :func:`trace_functionals` averaged over the state-years; ``beta``, ``theta`` (0 for the
    SAR) and ``gamma`` (C,) or (draws, C) per draw. Direct ``beta tr(S)/n + theta tr(SW)/n``, total
    ``beta 1'S1/n + theta 1'SW1/n`` (LeSage & Pace 2009). Since ``SW = WS`` and ``S = I + rho WS``,
    ``S(beta I + theta W) = beta I + sum_k gamma_k W_k S (rho beta + theta)``: every spillover starts with one step
    along one channel, and channel ``k`` carries ``gamma_k 1'W_k S 1 / sum_j gamma_j 1'W_j S 1`` of it, for the
    SAR and the SDM alike (``gamma_k`` itself when no state is an island).
    """
    direct = beta * f[:, 0] + theta * f[:, 1]
    total = beta * f[:, 2] + theta * f[:, 3]
    first = gamma * f[:, 4:]
    tot = first.sum(axis=1, keepdims=True)
    share = np.divide(first, tot, out=np.full_like(first, 1.0 / first.shape[1]), where=tot != 0)
    return direct, total, share


def conv_impacts(chains: Chains, model: ConvexSAR, level: float = 0.95) -> pd.DataFrame:
    """Direct / indirect / total impacts per regressor (channel ``all``, as for the other multi-channel models),
    and the indirect impact carried by each channel (channel = its name), with posterior sds and equal-tailed
    intervals."""
    factors = chains.extra["values"].reshape(-1, 4 + model.C)
    params = chains.extra["params"].reshape(-1, chains.draws.shape[2])
    gamma = params[:, [chains.names.index(f"gamma_{c}") for c in model.channels]]
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows: list[dict[str, Any]] = []

    def add(term: str, channel: str, effect: str, v: np.ndarray) -> None:
        rows.append({"term": term, "channel": channel, "effect": effect, "estimate": float(v.mean()),
                     "std_error": float(v.std(ddof=1)), "conf_low": float(np.quantile(v, lo_q)),
                     "conf_high": float(np.quantile(v, hi_q))})

    for x in model.design.regressors:
        b = params[:, chains.names.index(x)]
        theta = params[:, chains.names.index(f"W_{x}")] if f"W_{x}" in chains.names else 0.0
        direct, total, share = spillover_impacts(b, theta, gamma, factors)
        for effect, v in (("direct", direct), ("indirect", total - direct), ("total", total)):
            add(x, "all", effect, v)
        for k, c in enumerate(model.channels):
            add(x, c, "indirect", (total - direct) * share[:, k])
    return pd.DataFrame(rows)


SAMPLERS = {"sar_conv": ConvexSAR, "sdm_conv": ConvexSDM}


def fit_conv(design: Design, mcmc: Mapping[str, int], impact_draws: int = 1000, estimator: str = "sar_conv"
             ) -> tuple[Chains, ConvexSAR]:
    """Build the sampler (``sar_conv`` or ``sdm_conv``) and run its chains (summaries:
    :mod:`interdep.models.bayes.fit`)."""
    model = SAMPLERS[estimator](design, mcmc["burn_in"])
    chains = model.run(draws=mcmc["draws"], burn_in=mcmc["burn_in"], chains=mcmc["chains"], thin=mcmc["thin"],
                       seed=mcmc["seed"], impact_draws=impact_draws)
    return chains, model


def fit_convex(spec: Mapping[str, Any], design: Design) -> BayesFit:
    """Run ``sar_conv`` / ``sdm_conv`` (``spec["estimator"]``) with the spec's ``mcmc`` settings; summaries,
    convergence and fit.json's ``mcmc`` block as for the other MCMC estimators (:mod:`interdep.models.bayes.fit`)."""
    estimator = str(spec.get("estimator", "sar_conv"))
    mcmc = mcmc_settings(spec)
    if spec.get("priors"):
        raise InputError(f"model {spec.get('id')!r}: {estimator} has fixed priors (no 'priors' key)",
                         value=spec["priors"])
    chains, model = fit_conv(design, mcmc, int(spec.get("impact_draws", 1000)) or 1000, estimator)
    estimate, diag, block = summarise_chains(chains, mcmc, estimator=estimator, n_obs=design.n_obs,
                                             sigma2_term=None)
    pooled = chains.pooled
    rho = pooled[:, chains.names.index("rho")]
    effects = ("flat (unit and/or year dummies drawn with beta)" if estimator == "sar_conv"
               else "flat (integrated out, not drawn)")
    block.update({
        "priors": {"beta": "flat", "effects": effects,
                   "sigma2": "Jeffreys 1/sigma2", "gamma": "uniform on the simplex (Dirichlet(1, ..., 1))",
                   "rho": "uniform on (-1, 1)"},
        "gamma": {c: float(pooled[:, chains.names.index(f"gamma_{c}")].mean()) for c in model.channels},
        "rho_by_channel": {c: float((rho * pooled[:, chains.names.index(f"gamma_{c}")]).mean())
                           for c in model.channels},
        "log_jacobian": model.jacobian_facts(float(np.abs(rho).max())),
    })
    estimate.sigma2 = float(pooled[:, chains.names.index("sigma2")].mean())
    lags = "W = sum_k gamma_k W_k" + (" in W y and in W x (terms W_<x>)" if estimator == "sdm_conv" else "")
    estimate.diagnostics["notes"] = [
        "posterior summaries: estimate = posterior mean, std_error = posterior sd, conf_low/conf_high = 95% "
        "equal-tailed credible interval, p_value = two-sided posterior tail probability",
        f"{lags}; fit.json rho = posterior mean of rho * gamma_k per channel (the channel's rho in "
        "the several-rho model); impacts: indirect split over channels by first-step shares",
    ]
    impacts = conv_impacts(chains, model)
    impacts.attrs["draws_used"] = block["impact_draws"]
    return BayesFit(estimate=estimate, impacts=impacts, chains=chains, mcmc=block)
