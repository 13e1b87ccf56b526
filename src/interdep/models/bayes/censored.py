"""Bayesian spatial Tobit and probit panels (LeSage & Pace 2009, ch. 10) with a W per year.

Latent model (one channel, stacked by year): ``z = rho W z + X beta + D alpha + e``, ``e ~ N(0, sigma2 I)``;
observed ``y = max(0, z)`` (``sar_tobit``) or ``y = 1[z > 0]`` (``sar_probit``, ``sigma2 = 1``). ``W`` is
block-diagonal with one row-standardised block per year (unbalanced panels and islands allowed), ``D`` the unit
and/or year dummies.

One sweep of the sampler (a blocked Gibbs sampler, every block exact):

1. the latent ``z_i`` of the censored (Tobit) or of all (probit) rows from their truncated-normal conditionals
   given all other rows. The precision of ``z`` is ``A'A / sigma2`` (``A = I - rho W``), so
   ``z_i | z_-i ~ N(z_i - (A'e)_i / (A'A)_ii, sigma2 / (A'A)_ii)`` with ``e = A z - X beta - D alpha``. Rows
   that are not neighbours in the graph of ``A'A`` (neither linked in ``W`` nor sharing a neighbour) are
   conditionally independent: a greedy colouring of that graph (computed once) splits the latent rows into a few
   dozen independent sets; the sweep draws row by row in compiled code (numba), set after set;
2. ``rho`` given ``z`` with ``beta``, the effects (flat priors) and, for Tobit, ``sigma2`` integrated out, on a
   grid of 2,001 points over the admissible interval (griddy Gibbs; the log-determinants are exact, from the
   per-year eigenvalues of the ML engine);
3. ``sigma2`` (Tobit) given ``rho`` and ``z``, then ``beta`` marginally over the effects, then the effects
   (:class:`interdep.models.bayes.core.LinearGibbs`).

With correlated random unit effects the sweep is: the latent rows (1.); each ``u_i`` moved together with its
unit's latent rows (:func:`unit_shift_sweep`, an exact Gibbs draw along that direction); ``rho`` given ``z``,
``sigma2`` and ``sigma2_unit`` with ``beta``, the ``mean_<x>`` terms, the year effects and the ``u_i`` integrated
out; all of these jointly given ``rho``; (Tobit) ``sigma2`` given everything; ``sigma2_unit`` given the ``u_i``.
Integrating the ``u_i`` out of ``rho``'s step (a partially collapsed Gibbs sampler: they are drawn right after
it) removes the coupling of ``rho`` with the unit effects (real probit panel, 2 x 5,000 draws: rho's ESS 135 with
``rho`` drawn given the ``u_i``, 388 collapsed).

Effects are parameters of the sampler with flat priors (``unit_effects: fixed``, the default). Consequences: a
unit whose outcome is censored (Tobit) or constant (probit) in every year has no finite unit effect under a flat
prior (its posterior is improper); such units are removed before estimation, with a note (as in fixed-effects
logit). The unit effects are estimated from at most T rows each, and in these non-linear models their estimation
error does not vanish from the other parameters (incidental-parameter bias of O(1/T); measured for the probit
at T = 10: rho +0.046 over 60 replications, x1's posterior mean 1.22-1.66 against 1 in three).
``unit_effects: correlated_random`` (Mundlak 1978; Chamberlain 1980) instead models the unit effect as
``mean_i(x)' delta + u_i`` with ``u_i ~ N(0, sigma2_unit)`` (uniform prior on ``sigma_unit``, Gelman 2006): the
unit means enter as regressors ``mean_<x>``, the ``u_i`` are drawn jointly with the coefficients, only the year
dummies keep flat priors, and no unit is removed.

In the Gaussian part, integrating flat-prior effects out would leave ``rho``'s marginal as
``log|A(rho)| - (n - p)/2 log SSR(rho)``, whose score at the truth is off by about ``-tr(P_D G)``
(``G = W A^-1``): a pull of ``rho`` towards 0 of order p / n (measured: -0.022 at N = 190, T = 10, two-way).
The log-Jacobian is therefore adjusted for the flat-prior effects
(:func:`interdep.models.bayes.core.effects_jacobian_weights`: ``log|A| - tr(P_D log A)``, exactly Lee & Yu's
transformed Jacobian where their transformation holds), which removes that term; benchmarks/README.md has the
Monte Carlo before and after.

One channel only: several ``rho``'s would need a log-determinant over a multi-dimensional grid (a dense LU per
year and grid point); not built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import special

from interdep.errors import InputError
from interdep.models.bayes.core import (
    Chains,
    LinearGibbs,
    LogDetGrid,
    compiled_seed,
    griddy_draw,
    interval_normal_draw,
    latent_gibbs_sweep,
    run_chains,
)
from interdep.models.design import Design, EffectsProjector
from interdep.models.panel_ml import _spectra, matrix_key, single_thread_blas

__all__ = ["CensoredSAR", "LatentSweep", "identified_units", "impacts_frame", "observed_factors"]


def _colour(graph: sp.csr_array, rows: np.ndarray) -> np.ndarray:
    """Greedy colouring of the subgraph of ``graph`` induced on ``rows`` (once per model, setup only)."""
    n = graph.shape[0]
    colour = np.full(n, -1)
    member = np.zeros(n, dtype=bool)
    member[rows] = True
    indptr, indices = graph.indptr, graph.indices
    for i in rows:
        nb = indices[indptr[i]:indptr[i + 1]]
        used = set(colour[nb[member[nb]]].tolist())
        c = 0
        while c in used:
            c += 1
        colour[i] = c
    return colour[rows]


class LatentSweep:
    """Single-site Gibbs sweep over the latent rows, compiled (numba), in the order of independent sets of the
    precision graph.

    Each row is drawn from its exact truncated-normal conditional given all other rows, and the residual
    ``e = A z - mean`` is updated after each row. Rows in one independent set (a greedy colouring of the graph
    of ``A'A``, computed once) are conditionally independent, so drawing them one after another equals drawing
    the set jointly: the sweep is the blocked Gibbs step "set by set", done row by row in compiled code.

    Parameters
    ----------
    W : scipy.sparse array
        Stacked block-diagonal weights (n, n), zero diagonal.
    rows : numpy.ndarray
        Indices of the latent rows.
    side : numpy.ndarray
        Truncation of each latent row: ``-1`` -> ``z <= 0``, ``+1`` -> ``z > 0``, ``0`` -> none.
    """

    def __init__(self, W: sp.sparray, rows: np.ndarray, side: np.ndarray):
        W = sp.csr_array(W, dtype=float)
        pattern = sp.csr_array((abs(W) + abs(W.T) + abs(W.T @ W)) != 0)
        pattern.setdiag(False)
        pattern.eliminate_zeros()
        rows = np.asarray(rows, dtype=np.int64)
        colours = _colour(pattern, rows)
        self.n_sets = int(colours.max()) + 1 if len(colours) else 0
        order = np.argsort(colours, kind="stable")
        self.rows, self.side = rows[order], np.asarray(side, dtype=np.int64)[order]
        self.colsq = np.asarray((W.multiply(W)).sum(axis=0)).ravel()
        csc = sp.csc_array(W)  # column i: the links W[k, i] through which z_i enters other rows
        csc.sort_indices()
        self._csc = (csc.indptr.astype(np.int64), csc.indices.astype(np.int64), csc.data)

    def sweep(self, z: np.ndarray, e: np.ndarray, rho: float, sigma2: float, rng: np.random.Generator) -> None:
        """Update ``z`` and ``e = A z - mean`` in place."""
        latent_gibbs_sweep(z, e, float(rho), float(sigma2), self.rows, self.side, self.colsq, *self._csc,
                           compiled_seed(rng))


@numba.njit(cache=True)
def unit_shift_sweep(z, e, mean, u, rho, sigma2, tau2, uptr, urows, latent, side, colsq, indptr, indices, data,
                     seed):  # pragma: no cover
    """Correlated random unit effects: for each unit ``i`` in turn, one exact Gibbs draw along the direction
    that shifts ``u_i`` and the latent ``z`` of all of unit ``i``'s latent rows by the same ``delta``.

    Its own rows' residuals do not change (``W`` links no two rows of one unit: one block per year, zero
    diagonal), so ``e = A z - mean`` changes by ``delta a`` with ``a = -rho W 1_L`` on the neighbours' rows and
    ``-1`` on the unit's observed (Tobit) rows; ``delta`` given everything else is normal with precision
    ``a'a / sigma2 + 1 / tau2`` and mean ``-(a'e / sigma2 + u_i / tau2) / precision``, truncated so that every
    latent row keeps its sign (``side``). A Gibbs step in a linear reparametrisation, so it leaves the posterior
    invariant; it moves ``u_i`` with the latent data that pin it, which the blocked steps (``z`` given ``u``, then
    ``u`` given ``z``) do only slowly when a unit's outcome is the same in every year. ``uptr, urows``: the rows of
    each unit (CSR-like); ``latent``, ``side``: per row; ``indptr, indices, data``: ``W`` in CSC form."""
    np.random.seed(seed)
    for i in range(uptr.size - 1):
        ae = 0.0
        aa = 0.0
        lo = -np.inf
        hi = np.inf
        for p in range(uptr[i], uptr[i + 1]):
            k = urows[p]
            if latent[k]:
                wte = 0.0
                for q in range(indptr[k], indptr[k + 1]):
                    wte += data[q] * e[indices[q]]
                ae -= rho * wte
                aa += rho * rho * colsq[k]
                if side[k] > 0:
                    lo = max(lo, -z[k])
                elif side[k] < 0:
                    hi = min(hi, -z[k])
            else:
                ae -= e[k]
                aa += 1.0
        prec = aa / sigma2 + 1.0 / tau2
        mu = -(ae / sigma2 + u[i] / tau2) / prec
        sd = math.sqrt(1.0 / prec)
        delta = mu + sd * interval_normal_draw((lo - mu) / sd, (hi - mu) / sd)
        u[i] += delta
        for p in range(uptr[i], uptr[i + 1]):
            k = urows[p]
            mean[k] += delta
            if latent[k]:
                z[k] += delta
                for q in range(indptr[k], indptr[k + 1]):
                    e[indices[q]] -= rho * data[q] * delta
            else:
                e[k] -= delta


def identified_units(y: np.ndarray, units: np.ndarray, kind: str) -> np.ndarray:
    """Mask of rows whose unit has an identified unit effect: not censored in every year (Tobit), not the same
    outcome in every year (probit), judged on the observed rows (a missing ``y`` is NaN; a unit never observed
    has no identified effect either)."""
    frame = pd.DataFrame({"u": units, "pos": np.where(np.isnan(y), np.nan, y > 0)})
    share = frame.groupby("u")["pos"].transform("mean").to_numpy()
    return share > 0 if kind == "tobit" else (share > 0) & (share < 1)


@dataclass
class _State:
    z: np.ndarray
    e: np.ndarray
    mean: np.ndarray
    beta: np.ndarray
    sigma2: float
    rho: float
    u: np.ndarray | None = None  # correlated random unit effects
    tau2: float = 1.0  # their variance


UNIT_EFFECTS = ("fixed", "correlated_random")


class CensoredSAR:
    """The sampler of ``sar_tobit`` (``kind="tobit"``) and ``sar_probit`` (``kind="probit"``) for one design.

    ``names``: the regressors (with correlated random unit effects also ``mean_<x>``), ``rho_<channel>``, (Tobit)
    ``sigma2`` and (correlated random unit effects) ``sigma2_unit``. Implements
    :class:`interdep.models.bayes.core.Sampler`; ``extra(state)`` returns the per-draw impact factors
    (:func:`observed_factors`).
    """

    def __init__(self, design: Design, kind: str, prior: dict[str, float], unit_effects: str = "fixed"):
        if kind not in ("tobit", "probit"):
            raise ValueError(kind)
        if len(design.channels) != 1:
            raise InputError(f"model {design.model_id!r}: sar_{kind} takes exactly one weights channel",
                             value=design.channels)
        if unit_effects not in UNIT_EFFECTS:
            raise InputError(f"model {design.model_id!r}: unit_effects must be one of {', '.join(UNIT_EFFECTS)}",
                             value=unit_effects)
        self.cre = unit_effects == "correlated_random"
        if self.cre and design.effects not in ("unit", "twoway"):
            raise InputError(f"model {design.model_id!r}: unit_effects: correlated_random needs effects unit or "
                             f"twoway", value=design.effects)
        self.design, self.kind, self.prior = design, kind, prior
        self.channel = design.channels[0]
        self.y = design.y
        self.W = design.stacked(self.channel)
        X, names, projector = design.X, list(design.names), design.projector
        if self.cre:
            # Mundlak (1978) / Chamberlain: unit effect = unit means of the regressors' delta + u_i, u_i ~ N(0, tau2)
            self.unit_idx = pd.factorize(design.sample["ccode"].to_numpy())[0]
            self.unit_n = np.bincount(self.unit_idx).astype(float)
            regs = [j for j, nm in enumerate(names) if nm != "const"]
            means = (np.stack([np.bincount(self.unit_idx, weights=X[:, j]) for j in regs], axis=1)
                     / self.unit_n[:, None])[self.unit_idx]
            year_effects = "time" if design.effects == "twoway" else "none"
            X = np.column_stack([X, means] + ([np.ones(len(X))] if year_effects == "none" and "const" not in names
                                              else []))
            names = names + [f"mean_{names[j]}" for j in regs] + (
                ["const"] if year_effects == "none" and "const" not in names else [])
            projector = EffectsProjector(design.sample["ccode"].to_numpy(), design.sample["year"].to_numpy(),
                                         year_effects)
            # the joint Gaussian block of (beta and mean_<x>, year effects, u): one design, its Gram matrix fixed
            years = (np.eye(design.n_periods)[pd.factorize(design.sample["year"].to_numpy())[0]]
                     if year_effects == "time" else np.zeros((len(X), 0)))
            self._cre_z = np.column_stack([X, years, np.eye(len(self.unit_n))[self.unit_idx]])
            self._cre_ztz = self._cre_z.T @ self._cre_z
            self._cre_flat = X.shape[1] + years.shape[1]
        self.lin = LinearGibbs(X, names, projector, design.model_id)
        with single_thread_blas():  # one decomposition per distinct year, with the vectors the impacts need
            _spectra(design, self.channel, vectors=True)
        self.grid = LogDetGrid.from_design(design, self.channel, prior, projector=projector)
        self._grid_sq, self._grid_base = self.grid.grid ** 2, self.grid.logdet + self.grid.log_prior
        observed = ~np.isnan(self.y)  # missing outcomes (missing: impute) are latent, drawn untruncated
        y_obs = self.y[observed]
        if kind == "tobit":
            if (y_obs < 0).any():
                raise InputError(f"model {design.model_id!r}: sar_tobit needs an outcome censored at 0 "
                                 f"(no negative values); minimum {float(y_obs.min())}")
            censored = observed & (np.nan_to_num(self.y) <= 0)
        else:
            if not np.isin(y_obs, (0.0, 1.0)).all():
                raise InputError(f"model {design.model_id!r}: sar_probit needs a 0/1 outcome",
                                 value=sorted(set(np.unique(y_obs).tolist()) - {0.0, 1.0})[:5])
            censored = observed
        rows = np.flatnonzero(censored | ~observed)
        side = np.where(~observed[rows], 0, np.where(self.y[rows] > 0, 1, -1))
        self.n_imputed = int((~observed).sum())
        self.latent = LatentSweep(self.W, rows, side)
        self.latent_rows, self.latent_side = rows, side
        if self.cre:  # the rows of each unit, for the unit-shift step
            self._urows = np.argsort(self.unit_idx, kind="stable").astype(np.int64)
            self._uptr = np.concatenate([[0], np.cumsum(np.bincount(self.unit_idx))]).astype(np.int64)
            self._row_latent = np.zeros(len(self.y), dtype=np.bool_)
            self._row_latent[rows] = True
            self._row_side = np.zeros(len(self.y), dtype=np.int64)
            self._row_side[rows] = side
        self.names = (names + [f"rho_{self.channel}"] + (["sigma2"] if kind == "tobit" else [])
                      + (["sigma2_unit"] if self.cre else []))
        self._impact_setup()

    # -------------------------------------------------------------------------------------------- sampler

    def initial(self, chain: int, chains: int, rng: np.random.Generator) -> _State:
        lo, hi = self.grid.bounds
        starts = np.linspace(-0.5, 0.8, chains) if chains > 1 else np.array([0.0])
        rho = float(np.clip(starts[chain], lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo)))
        z = self.y.astype(float).copy()
        scale = float(np.nanstd(self.y)) or 1.0
        draw = rng.uniform(0.05, 1.0, size=len(self.latent_rows)) * scale
        z[self.latent_rows] = np.where(self.latent_side > 0, draw, -draw)
        v = z - rho * (self.W @ z)
        beta, sigma2, mean = self.lin.draw(v, rng, self.prior, sigma2=None if self.kind == "tobit" else 1.0)
        u = np.zeros(len(self.unit_n)) if self.cre else None
        return _State(z=z, e=v - mean, mean=mean, beta=beta, sigma2=sigma2, rho=rho, u=u)

    def step(self, s: _State, rng: np.random.Generator) -> _State:
        self.latent.sweep(s.z, s.e, s.rho, s.sigma2, rng)
        if self.cre:
            unit_shift_sweep(s.z, s.e, s.mean, s.u, float(s.rho), float(s.sigma2), float(s.tau2), self._uptr,
                             self._urows, self._row_latent, self._row_side, self.latent.colsq, *self.latent._csc,
                             compiled_seed(rng))
        wz = self.W @ s.z
        g, g2, base = self.grid.grid, self._grid_sq, self._grid_base
        if self.cre:  # rho with (beta, delta, year effects, u) integrated out, then all of them jointly
            loglik, chol, zt_z, zt_wz = self._collapsed_rho(s, wz)
            s.rho = griddy_draw(g, loglik, rng)
            v = s.z - s.rho * wz
            self._draw_linear_block(s, chol, zt_z - s.rho * zt_wz, rng)
            if self.kind == "tobit":  # sigma2 given everything: IG(shape + n/2, rate + SSR/2)
                resid = v - s.mean
                s.sigma2 = float((self.prior["sigma2_rate"] + 0.5 * resid @ resid)
                                 / rng.gamma(self.prior["sigma2_shape"] + 0.5 * len(v)))
            s.tau2 = float(0.5 * (s.u @ s.u) / rng.gamma(0.5 * (len(s.u) - 1)))
            s.e = v - s.mean
            return s
        r = self.lin.residual(np.column_stack([s.z, wz]))
        e0, ed = r[:, 0], r[:, 1]
        if self.kind == "tobit":  # -shape log(rate + SSR(rho) / 2)
            shape = self.prior["sigma2_shape"] + 0.5 * self.lin.df
            rate = 0.5 * float(e0 @ e0) + self.prior["sigma2_rate"]
            loglik = np.log(rate - float(e0 @ ed) * g + (0.5 * float(ed @ ed)) * g2)
            loglik *= -shape
        else:  # -SSR(rho) / 2
            loglik = float(e0 @ ed) * g - (0.5 * float(ed @ ed)) * g2
            loglik -= 0.5 * float(e0 @ e0)
        loglik += base
        s.rho = griddy_draw(g, loglik, rng)
        v = s.z - s.rho * wz
        s.beta, s.sigma2, s.mean = self.lin.draw(v, rng, self.prior, sigma2=None if self.kind == "tobit" else 1.0)
        s.e = v - s.mean
        return s

    def _collapsed_rho(self, s: _State, wz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Correlated random unit effects: the log conditional of ``rho`` on its grid given ``z``, ``sigma2`` and
        ``tau2`` with ``(beta, delta, year effects, u)`` integrated out (flat priors, ``u ~ N(0, tau2)``): the
        log-Jacobian and prior plus ``-q(rho) / (2 sigma2)``, ``q(rho) = v'v - v'Z P^-1 Z'v`` for ``v = z - rho
        W z`` and ``P`` of :meth:`_cre_cholesky` (the generalised residual sum of squares of the mixed model).
        Also returns the Cholesky factor, ``Z'z`` and ``Z'W z`` for the draw of the coefficients that follows."""
        chol = self._cre_cholesky(s)
        zt_z, zt_wz = self._cre_z.T @ s.z, self._cre_z.T @ wz
        a = sla.solve_triangular(chol, np.column_stack([zt_z, zt_wz]), lower=True)
        q_zz, q_zw, q_ww = (float(s.z @ s.z - a[:, 0] @ a[:, 0]), float(s.z @ wz - a[:, 0] @ a[:, 1]),
                            float(wz @ wz - a[:, 1] @ a[:, 1]))
        g = self.grid.grid
        loglik = (q_zw * g - 0.5 * q_ww * self._grid_sq - 0.5 * q_zz) / s.sigma2 + self._grid_base
        return loglik, chol, zt_z, zt_wz

    def _cre_cholesky(self, s: _State) -> np.ndarray:
        """Lower Cholesky factor of ``Z'Z + diag(0, sigma2 / tau2)``, ``Z = [X, mean_<x>, year dummies, unit
        dummies]``: the posterior precision (times ``sigma2``) of ``(beta, delta, year effects, u)``."""
        prec = self._cre_ztz.copy()
        units = np.arange(self._cre_flat, prec.shape[0])
        prec[units, units] += s.sigma2 / s.tau2
        return np.linalg.cholesky(prec)

    def _draw_linear_block(self, s: _State, chol: np.ndarray, zt_v: np.ndarray, rng: np.random.Generator) -> None:
        """Correlated random unit effects: ``(beta, delta, year effects, u)`` jointly from their Gaussian conditional
        given ``v = A z`` (``zt_v = Z'v``), ``sigma2`` and ``tau2`` (flat priors, ``u ~ N(0, tau2)``; ``chol``
        from :meth:`_cre_cholesky`). Drawing them jointly avoids the slow mixing of ``delta`` against ``u``; rho
        is drawn just before with all of them integrated out (the same factor gives its conditional), which
        removes its coupling with ``u``."""
        mean = sla.cho_solve((chol, True), zt_v)
        coef = mean + np.sqrt(s.sigma2) * sla.solve_triangular(chol, rng.standard_normal(len(mean)), lower=True,
                                                               trans="T")
        s.beta, s.u = coef[:self.lin.k], coef[self._cre_flat:]
        s.mean = self._cre_z @ coef

    def record(self, s: _State) -> np.ndarray:
        tail = [s.rho, s.sigma2] if self.kind == "tobit" else [s.rho]
        return np.concatenate([s.beta, tail, [s.tau2] if self.cre else []])

    def extra(self, s: _State) -> np.ndarray:
        return observed_factors(self, s.rho, s.mean, s.sigma2)

    def run(self, *, draws: int, burn_in: int, chains: int, thin: int, seed: int,
            impact_draws: int = 1000) -> Chains:
        """:func:`run_chains` with the observed-scale impact factors on at most ``impact_draws`` draws."""
        every = max(1, int(np.ceil(draws * chains / max(impact_draws, 1)))) if impact_draws else 0
        return run_chains(self, draws=draws, burn_in=burn_in, chains=chains, thin=thin, seed=seed,
                          extra_every=every)

    # -------------------------------------------------------------------------------------------- impacts

    def _impact_setup(self) -> None:
        """Per distinct year: eigen-decomposition pieces for ``diag(A^-1)`` and ``A^-1 v``."""
        d = self.design
        self._years = []
        cache: dict[str, tuple] = {}
        for blk, w, s in zip(d.blocks, d.weights[self.channel], _spectra(d, self.channel, vectors=True),
                             strict=True):
            key = matrix_key(w)
            if key not in cache:
                if s.V is None:
                    cache[key] = (None, w.toarray())
                else:
                    cache[key] = (s, np.real_if_close(s.V * s.Vinv.T))
            rowsum = np.asarray(w.sum(axis=1)).ravel()
            self._years.append((blk, cache[key], rowsum > 0))


def observed_factors(model: CensoredSAR, rho: float, mean: np.ndarray, sigma2: float) -> np.ndarray:
    """The four factors that turn ``beta_r`` into impacts at one draw (LeSage & Pace 2009, sec. 10.1):

    ``[mean_i A^-1_ii, mean_i (A^-1 1)_i, mean_i f_i A^-1_ii, mean_i f_i (A^-1 1)_i]`` with
    ``f_i = Phi(eta_i / sigma)`` (Tobit, the derivative of ``E[y_i]``) or ``phi(eta_i)`` (probit, of
    ``P(y_i = 1)``), ``eta = A^-1 (X beta + D alpha)`` the latent mean; means over all state-years.
    The first two are the latent-scale direct and total factors, the last two the observed-scale ones.
    """
    n = len(mean)
    sd = np.sqrt(sigma2)
    acc = np.zeros(4)
    for blk, (s, piece), linked in model._years:
        m = mean[blk]
        if s is None:  # defective eigenvectors: dense inverse
            ainv = np.linalg.inv(np.eye(len(m)) - rho * piece)
            diag, eta = np.diag(ainv), ainv @ m
        else:
            inv = 1.0 / (1.0 - rho * s.lam)
            diag = np.real(piece @ inv)
            eta = np.real(s.V @ (inv * (s.Vinv @ m)))
        rows = np.where(linked, 1.0 / (1.0 - rho), 1.0)  # A^-1 1 for row-standardised W (islands: 1)
        f = special.ndtr(eta / sd) if model.kind == "tobit" else np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi)
        acc += [diag.sum(), rows.sum(), (f * diag).sum(), (f * rows).sum()]
    return acc / n


def impacts_frame(chains: Chains, model: CensoredSAR, level: float = 0.95) -> pd.DataFrame:
    """Direct / indirect / total impacts per regressor on the latent and the observed scale, from the draws.

    Latent scale: all draws (the factors depend on ``rho`` only). Observed scale: the draws at which the factors
    were computed (``chains.extra["values"]``, every ``extra_every``-th draw). Columns: ``IMPACT_COLUMNS`` + ``scale``.
    """
    names = chains.names
    d = chains.pooled
    factors = chains.extra["values"].reshape(-1, 4)
    sub = chains.extra["params"].reshape(-1, d.shape[1])
    rows = []
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    for x in model.design.regressors:
        j = names.index(x)
        for scale, params, fac in (("latent", sub, factors[:, :2]), ("observed", sub, factors[:, 2:])):
            direct = params[:, j] * fac[:, 0]
            total = params[:, j] * fac[:, 1]
            for effect, v in (("direct", direct), ("indirect", total - direct), ("total", total)):
                rows.append({"term": x, "channel": model.channel, "effect": effect, "estimate": float(v.mean()),
                             "std_error": float(v.std(ddof=1)), "conf_low": float(np.quantile(v, lo_q)),
                             "conf_high": float(np.quantile(v, hi_q)), "scale": scale})
    return pd.DataFrame(rows)
