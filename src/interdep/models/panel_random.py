"""Maximum likelihood for the spatial-lag panel with random unit effects, and the spatial Hausman test.

Model (stacked by year, one channel): ``y = rho W y + X beta + mu_i + e`` with ``mu_i ~ N(0, sigma2_mu)`` and
``e ~ N(0, sigma2 I)`` independent of each other and of ``X`` (Anselin 1988; Baltagi, Egger & Pfaffermayr;
Elhorst 2014, ch. 3; R splm's ``spml(model = "random", lag = TRUE)``). ``W`` is block-diagonal with one block
per year (blocks may differ; the panel may be unbalanced). With ``time_effects`` (``effects: random_time``) year
fixed effects ``alpha_t`` are added: removed exactly by the Lee-Yu (2010) time transformation when every ``W_t``
is row-standardised, islands allowed (balanced or not; see below), which removes the O(1/N) bias of rho that year
dummies leave (Monte Carlo in benchmarks/README.md); otherwise (other weights, or ``lee_yu: false``) as dummies in
``X`` (all but the first year, estimated jointly; the direct approach, splm's ``factor(year)``).

The error covariance is ``Omega = sigma2 (I + phi D D')``, ``phi = sigma2_mu / sigma2`` and ``D`` the unit
dummies. With ``T_i`` the number of years unit ``i`` is observed, ``Omega^-1/2`` is the quasi-demeaning
``v_it - (1 - theta_i) vbar_i`` with ``theta_i = (1 + T_i phi)^(-1/2)`` (exact for unbalanced panels), so

    log L = -n/2 log(2 pi sigma2) - 1/2 sum_i log(1 + T_i phi) + sum_t log|I - rho W_t|
            - 1/(2 sigma2) |S (y - rho W y - X beta)|^2,      S = quasi-demeaning.

Time transformation (exact for unbalanced panels). Year ``t`` has ``n_t`` states, ``S_t`` (``n_t x N``) selects
them, ``F_t`` (``n_t x (n_t - 1)``) is an orthonormal basis of the complement of ``1`` and ``J_t = 11'/n_t``.
Row-standardisation (``W_t 1 = 1``) gives ``F_t'W_t = F_t'W_tF_tF_t'``, so ``F_t'`` applied to year ``t``
removes ``alpha_t`` and leaves a SAR in ``y*_t = F_t'y_t`` with ``W*_t = F_t'W_tF_t``, whose eigenvalues are
those of ``W_t`` without one 1: ``log|I - rho W*_t| = log|I - rho W_t| - log(1 - rho)``. Stacked (``F =
blockdiag(F_t)``, ``n - T`` rows) its errors ``F'(D mu + e)`` have covariance ``sigma2 (I + phi Z Z')``, ``Z =
F'D``. ``Z'Z = D'QD = diag(T_i) - sum_t s_t s_t' / n_t`` (``Q = FF' = blockdiag(I - J_t)``, ``s_t = S_t'1``) is
N x N; with ``D'QD = U diag(a) U'``, Woodbury and the determinant lemma give

    (I + phi ZZ')^-1 = I - Z~ diag(phi / (1 + phi a)) Z~',   |I + phi ZZ'| = prod_j (1 + phi a_j),   Z~ = ZU,

with ``Z~'Z~ = diag(a)``: the untransformed formulas with ``T_i`` replaced by ``a_j`` and the state dummies by
``Z~`` (the ``a_j = 0`` directions, the states' common level absorbed by ``alpha_t``, drop out). ``F`` is never
formed: ``F'`` is an isometry from the year-demeaned vectors ``Qv`` onto the transformed ones, so everything is
computed on ``Qy``, ``QWy``, ``QX`` and ``Z~ ~ QDU``, and

    log L* = -(n - T)/2 log(2 pi sigma2) - 1/2 sum_j log(1 + a_j phi) + sum_t log|I - rho W_t| - T log(1 - rho)
             - 1/(2 sigma2) |Sigma*^-1/2 Q (y - rho W y - X beta)|^2,

``sigma2 = SSR / (n - T)``. Balanced, ``D'QD = T (I - J_N)`` (``a = T`` with multiplicity N - 1): Lee & Yu's
transformed likelihood with ``N - 1`` pseudo-states (tested to 1e-10).

Islands (rows of zeros in ``W_t``, e.g. contiguity): ``W_t 1 = c_t`` (1 for the connected states, 0 for the
islands ``s_t = 1 - c_t``) is no longer ``1``, but when no state has an island as neighbour (``W_t s_t = 0``, so
``W_t c_t = c_t``) ``K_t = span{c_t, s_t}`` contains ``1`` and is invariant under ``W_t``; ``F_t`` then spans
``K_t``'s complement (``n_t - 2`` columns), i.e. the connected states and the islands are demeaned separately.
``F_t'W_t = F_t'W_tF_tF_t'`` again, ``W_t`` has eigenvalues 1 and 0 on ``K_t``, so the log-Jacobian is the same
``log|I - rho W_t| - log(1 - rho)``, and everything above holds with ``Q_t = I - P_K`` and ``n - T`` replaced by
``n`` minus the number of (year, connected / island) groups. Exact, at the price of one more degree of freedom per
year with islands (an island alone in its year drops out). The information below holds with ``G``
replaced by ``F'GF`` (represented by ``QG``, since ``QGQ = QG``), ``n`` by ``n - T``, ``T_i`` by ``a_j`` and
``D`` by ``Z~`` (then ``Sigma``'s state part is no longer one state per row, so the trace
``tr(G' Sigma^-1 G Sigma) = tr(G'G) + phi |GZ~|^2 - sum_j Theta_j |G'Z~_j|^2 - phi tr(Theta M M')``, ``M =
Z~'GZ~``, is computed in that general form; it reduces to the one below untransformed).

For given ``(rho, phi)`` beta is GLS and ``sigma2 = SSR / n`` (ML, as splm); the concentrated likelihood is
maximised over ``rho`` (inner, the residual sum of squares is a quadratic in ``rho``, the log-Jacobian comes from
each year's eigenvalues) and over ``log phi`` (outer; ``phi`` in ``[1e-8, 1e8]``, splm's range).

Standard errors: the inverse of the analytical expected information of ``(beta, rho, sigma2, phi)`` (the
random-effects counterpart of Anselin's / Lee's information that :mod:`interdep.models.panel_ml` uses), with
``G = W (I - rho W)^-1``, ``Sigma = I + phi D D'``, ``Theta = diag(phi / (1 + T_i phi))``, ``M = D'GD``:

* ``I_bb = X' Sigma^-1 X / sigma2``, ``I_br = X' Sigma^-1 G X beta / sigma2``;
* ``I_rr = tr(GG) + tr(G' Sigma^-1 G Sigma) + (G X beta)' Sigma^-1 (G X beta) / sigma2`` with
  ``tr(G' Sigma^-1 G Sigma) = (1 + phi) tr(G'G) - sum_i Theta_i (sum_t G_t G_t')_ii - phi tr(Theta M M')``;
* ``I_r,s2 = tr(G) / sigma2``, ``I_r,phi = sum_i M_ii / (1 + T_i phi)``, ``I_s2,s2 = n / (2 sigma2^2)``,
  ``I_s2,phi = sum_i T_i / (1 + T_i phi) / (2 sigma2)``, ``I_phi,phi = 1/2 sum_i (T_i / (1 + T_i phi))^2``.

splm reports instead ``sigma2 (X' Sigma^-1 X)^-1`` for beta (GLS given rho and phi, i.e. ignoring their
estimation) and a finite-difference Hessian of the concentrated likelihood for ``(phi, rho)``;
``diagnostics["cov_beta_gls"]`` holds the former so the convention can be compared.

Hausman test (:func:`hausman`, as splm's ``sphtest``): ``H = |d' (V_fe - V_re)^-1 d|`` with ``d`` the
difference of the slope coefficients common to the fixed-effects ("within") and random-effects fits (no
constant, no rho: splm compares the coefficients only), chi-squared with as many degrees of freedom.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import optimize, stats

from interdep.errors import EstimationError, InputError
from interdep.models.design import Design, check_collinearity
from interdep.models.panel_ml import _spectra, at_bound, rho_bounds, single_thread_blas
from interdep.models.result import Estimate

__all__ = ["RANDOM_EFFECTS", "fit_sar_re", "fixed_counterpart", "hausman", "island_rows", "profile_re",
           "transform_applies"]

RANDOM_EFFECTS = ("random", "random_time")
PHI_BOUNDS = (1e-8, 1e8)  # splm's search range for phi = sigma2_mu / sigma2


def island_rows(w: sp.sparray) -> np.ndarray | None:
    """The islands (rows without neighbours) of one year's ``W`` when the time transformation is exact for it:
    every row sums to 1 or 0 and no state has an island as neighbour; otherwise None."""
    rows = np.asarray(w.sum(axis=1)).ravel()
    island = np.abs(rows) < 1e-10
    if not np.all(island | (np.abs(rows - 1.0) < 1e-10)):
        return None
    if island.any() and np.asarray(abs(w).sum(axis=0)).ravel()[island].any():
        return None
    return island


def transform_applies(design: Design) -> bool:
    """Whether the time transformation is exact: every ``W_t`` row-standardised, apart from islands (rows and
    columns of zeros); the panel may be unbalanced and ``W_t`` differ by year."""
    return all(island_rows(w) is not None for c in design.channels for w in design.weights[c])


def fixed_counterpart(effects: str) -> str:
    """The fixed-effects specification a random-effects one is tested against (Hausman)."""
    return {"random": "unit", "random_time": "twoway"}[effects]


class _RandomEffects:
    """Quasi-demeaning, concentrated likelihood and information of one design (see the module docstring).

    The likelihood's arrays live in the ``n`` stacked rows: untransformed, or with ``transform`` (time effects,
    every ``W_t`` row-standardised, islands allowed) demeaned within each year, ``Q = blockdiag(I - J_t)`` (islands
    and connected states separately), which represents the
    ``F'``-transformed data isometrically (``|F'v| = |Qv|``). ``Z`` (``n x m``) and ``a`` (``m``) give the
    state-effect part of the error covariance ``Sigma = I + phi Z Z'`` with ``Z'Z = diag(a)``: untransformed the
    state dummies and ``T_i``; transformed ``Q D U`` and ``a`` from ``D'QD = U diag(a) U'`` (directions with
    ``a = 0``, the state effects' common level absorbed by the year effects, dropped). ``n_eff`` is the
    dimension of the likelihood (``n``, or ``n - T`` transformed).
    """

    def __init__(self, design: Design, time_effects: bool, transform: bool = False):
        if len(design.channels) != 1:
            raise InputError(f"model {design.model_id!r}: random effects take exactly one weights channel",
                             value=list(design.channels))
        if "const" not in design.names:
            raise EstimationError(f"model {design.model_id!r}: random effects need a constant in the design")
        self.design = design
        self.channel = design.channels[0]
        _, unit = np.unique(design.sample["ccode"].to_numpy(), return_inverse=True)
        T_i = np.bincount(unit)
        if design.n_units < 2 or T_i.max() < 2:
            raise EstimationError(f"model {design.model_id!r}: random effects need states observed in two or more "
                                  f"years ({design.n_units} states, at most {int(T_i.max())} year(s) each)")
        spectra = _spectra(design, self.channel)
        self.lam = np.concatenate([s.lam for s in spectra])
        self.bounds = rho_bounds([s.lam for s in spectra])
        self.blocks = design.blocks
        self.wd = [w.toarray() for w in design.weights[self.channel]]
        self.n = design.n_obs
        D = sp.csr_array((np.ones(self.n), (np.arange(self.n), unit)), shape=(self.n, len(T_i)))
        y, wy = design.y, design.lag(self.channel, design.y)
        X, names = design.X, list(design.names)
        self.transform = transform
        if transform:
            if not transform_applies(design):
                raise EstimationError(f"model {design.model_id!r}: the time transformation needs row-standardised "
                                      "weights (or islands) in every year")
            # groups demeaned separately: each year's connected states and its islands
            self.islands = [island_rows(w) for w in design.weights[self.channel]]
            group = np.concatenate([2 * t + isl for t, isl in enumerate(self.islands)])
            _, group = np.unique(group, return_inverse=True)
            self._groups = sp.csr_array((np.ones(self.n), (np.arange(self.n), group)))
            self._group_size = np.bincount(group).astype(float)
            keep = [i for i, nm in enumerate(names) if nm != "const"]
            X, names = self.year_demean(X[:, keep]), [names[i] for i in keep]
            y, wy = self.year_demean(y), self.year_demean(wy)
            qd = self.year_demean(D.toarray())
            a, U = np.linalg.eigh(D.T @ qd)  # D'QD = diag(T_i) - sum_g s_g s_g' / n_g
            kept = a > 1e-9 * a.max()
            self.a, self.Z = a[kept], qd @ U[:, kept]
            self.n_eff = self.n - len(self._group_size)
            # log|I - rho F_t'W_tF_t| = log|I - rho W_t| - log(1 - rho) in every year with connected states
            self.jacobian_periods = sum(int((~isl).any()) for isl in self.islands)
        else:
            if time_effects:
                year = design.sample["year"].to_numpy()
                dummies = [(year == y).astype(float) for y in design.years[1:]]
                X = np.column_stack([X, *dummies]) if dummies else X
                names += [f"year_{int(y)}" for y in design.years[1:]]
            self.a, self.Z = T_i.astype(float), D
            self.n_eff = self.n
            self.jacobian_periods = 0
        check_collinearity(X, names, design.model_id)
        self.y, self.wy, self.X, self.names = y, wy, X, names
        self.Zt = self.Z.T
        # cross products of [X, y, Wy] (columns scaled to unit norm) and their projections on Z, for the GLS steps
        V = np.column_stack([X, self.y, self.wy])
        self._scale = np.where(np.linalg.norm(V, axis=0) > 0, np.linalg.norm(V, axis=0), 1.0)
        V = V / self._scale
        self._vv, self._dv = V.T @ V, self.Zt @ V

    # -- transformations
    def year_demean(self, v: np.ndarray) -> np.ndarray:
        """``Q v``: ``v`` minus its mean over the states present in the same year (islands and connected states
        separately)."""
        means = self._groups.T @ v
        means = means / (self._group_size[:, None] if means.ndim == 2 else self._group_size)
        return v - self._groups @ means

    def unit_sum(self, v: np.ndarray) -> np.ndarray:
        """``Z'v`` (untransformed: the sum over each state's years)."""
        return self.Zt @ v

    def _spread(self, c: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``Z diag(c) s`` for ``s = Z'v``."""
        return self.Z @ (c[:, None] * s if s.ndim == 2 else c * s)

    def quasi_demean(self, v: np.ndarray, phi: float) -> np.ndarray:
        """``Sigma^-1/2 v = v - Z diag(c) Z'v``, ``c = (1 - (1 + a phi)^-1/2) / a`` (``v_it - (1 - theta_i) vbar_i``
        untransformed)."""
        s = np.sqrt(1.0 + self.a * phi)
        return v - self._spread(phi / (s * (s + 1.0)), self.unit_sum(v))

    def sigma_inv(self, v: np.ndarray, phi: float) -> np.ndarray:
        """``Sigma^-1 v = v - Z Theta Z'v``, ``Theta = diag(phi / (1 + a phi))``."""
        return v - self._spread(phi / (1.0 + self.a * phi), self.unit_sum(v))

    # -- likelihood
    def regressions(self, phi: float) -> tuple[np.ndarray, np.ndarray]:
        """GLS coefficients of ``y`` and ``Wy`` on ``X`` (columns) and the 2x2 cross products of their residuals.

        The normal equations from the cross products ``V' Sigma^-1 V = V'V - (Z'V)' Theta (Z'V)`` of
        ``V = [X, y, Wy]`` (computed once, columns scaled to unit norm): O(m k^2) per ``phi`` instead of O(n k^2);
        the residual cross products from the quasi-demeaned residuals (exact; an error in the coefficients enters
        them only to second order).
        """
        theta = phi / (1.0 + self.a * phi)
        m = self._vv - self._dv.T @ (theta[:, None] * self._dv)
        k = self.X.shape[1]
        xx, xz = m[:k, :k], m[:k, k:]
        coef = sla.solve(xx, xz, assume_a="pos", check_finite=False)
        sz = self._scale[k:]
        coef = coef * sz[None, :] / self._scale[:k, None]
        r = self.quasi_demean(np.column_stack([self.y, self.wy]) - self.X @ coef, phi)  # exact: no cancellation
        return coef, r.T @ r

    def logdet(self, rho: float) -> float:
        return float(np.sum(np.log(np.abs(1.0 - rho * self.lam))) - self.jacobian_periods * np.log(1.0 - rho))

    def loglik(self, rho: float, phi: float, gram: np.ndarray) -> float:
        n = self.n_eff
        ssr = gram[0, 0] - 2 * rho * gram[0, 1] + rho**2 * gram[1, 1]
        return (-0.5 * n * (np.log(2 * np.pi) + 1 + np.log(ssr / n)) - 0.5 * np.sum(np.log1p(self.a * phi))
                + self.logdet(rho))

    def evaluate(self, rho: float, phi: float) -> tuple[np.ndarray, float, float]:
        """GLS coefficients (all columns, year dummies included), ``sigma2`` (ML) and the log-likelihood at
        ``(rho, phi)``."""
        coef, gram = self.regressions(phi)
        ssr = gram[0, 0] - 2 * rho * gram[0, 1] + rho**2 * gram[1, 1]
        return coef[:, 0] - rho * coef[:, 1], float(ssr) / self.n_eff, self.loglik(rho, phi, gram)

    def best_rho(self, phi: float) -> tuple[float, float]:
        """The ``rho`` maximising the likelihood at ``phi``, and the maximum."""
        _, gram = self.regressions(phi)
        res = optimize.minimize_scalar(lambda r: -self.loglik(r, phi, gram), bounds=self.bounds, method="bounded",
                                       options={"xatol": 1e-12})
        return float(res.x), -float(res.fun)

    def best_phi(self, rho: float | None = None, xatol: float = 1e-10) -> tuple[float, float]:
        """The ``phi`` maximising the likelihood (over ``rho`` too when ``rho`` is None), and the maximum."""
        def negll(eta: float) -> float:
            phi = float(np.exp(eta))
            if rho is None:
                return -self.best_rho(phi)[1]
            return -self.loglik(rho, phi, self.regressions(phi)[1])

        lo, hi = np.log(PHI_BOUNDS[0]), np.log(PHI_BOUNDS[1])
        res = optimize.minimize_scalar(negll, bounds=(lo, hi), method="bounded", options={"xatol": xatol})
        return float(np.exp(res.x)), -float(res.fun)

    # -- information
    def _g_blocks(self, rho: float):
        """Each year's rows and ``G_t = W_t (I - rho W_t)^-1`` (transformed: ``Q_t G_t``, which represents
        ``F_t'G_tF_t``)."""
        for t, (blk, wd) in enumerate(zip(self.blocks, self.wd, strict=True)):
            g = np.linalg.solve((np.eye(wd.shape[0]) - rho * wd).T, wd.T).T  # W (I - rho W)^-1
            if self.transform:
                for rows in (self.islands[t], ~self.islands[t]):
                    if rows.any():
                        g[rows] -= g[rows].mean(axis=0)
            yield blk, g

    def information(self, beta: np.ndarray, rho: float, sigma2: float, phi: float) -> np.ndarray:
        """Expected information of ``(beta, rho, sigma2, phi)`` (module docstring)."""
        X, a = self.X, self.a
        k, m = X.shape[1], len(a)
        mu = X @ beta
        gmu = np.empty(self.n)
        tr_g = tr_gg = tr_gtg = 0.0
        gz2 = np.zeros(m)  # diag(Z'G'GZ)
        gtz2 = np.zeros(m)  # diag(Z'GG'Z)
        M = np.zeros((m, m))  # Z'GZ
        for blk, g in self._g_blocks(rho):
            gmu[blk] = g @ mu[blk]
            z = self.Z[blk]
            z = z.toarray() if sp.issparse(z) else z
            tr_g += np.trace(g)
            tr_gg += np.sum(g * g.T)
            tr_gtg += np.sum(g * g)
            gz, gtz = g @ z, g.T @ z
            gz2 += np.sum(gz * gz, axis=0)
            gtz2 += np.sum(gtz * gtz, axis=0)
            M += z.T @ gz
        theta = phi / (1.0 + a * phi)
        tr_gsgs = tr_gtg + phi * gz2.sum() - theta @ gtz2 - phi * np.sum(theta[:, None] * M * M)
        sx = self.sigma_inv(X, phi)
        info = np.zeros((k + 3, k + 3))
        info[:k, :k] = X.T @ sx / sigma2
        info[:k, k] = info[k, :k] = sx.T @ gmu / sigma2
        info[k, k] = tr_gg + tr_gsgs + gmu @ self.sigma_inv(gmu, phi) / sigma2
        info[k, k + 1] = info[k + 1, k] = tr_g / sigma2
        info[k, k + 2] = info[k + 2, k] = np.sum(np.diag(M) / (1.0 + a * phi))
        info[k + 1, k + 1] = self.n_eff / (2 * sigma2**2)
        info[k + 1, k + 2] = info[k + 2, k + 1] = np.sum(a / (1.0 + a * phi)) / (2 * sigma2)
        info[k + 2, k + 2] = 0.5 * np.sum((a / (1.0 + a * phi)) ** 2)
        return info

    def observed_information(self, beta: np.ndarray, rho: float, sigma2: float, phi: float) -> np.ndarray:
        """Minus the analytical Hessian of the log-likelihood in ``(beta, rho, sigma2, phi)`` at the estimate."""
        X, a = self.X, self.a
        k = X.shape[1]
        r = self.y - rho * self.wy - X @ beta
        tr_gg = sum(np.sum(g * g.T) for _, g in self._g_blocks(rho))
        dth = 1.0 / (1.0 + a * phi) ** 2  # d Theta / d phi; d Sigma^-1 / d phi = -Z diag(dth) Z'
        z = np.column_stack([X, self.wy])  # d r / d(beta, rho) = -z
        pz, pr = self.sigma_inv(z, phi), self.sigma_inv(r, phi)
        ur, uz = self.unit_sum(r), self.unit_sum(z)
        info = np.zeros((k + 3, k + 3))
        info[:k + 1, :k + 1] = z.T @ pz / sigma2
        info[k, k] += tr_gg
        info[:k + 1, k + 1] = info[k + 1, :k + 1] = z.T @ pr / sigma2**2
        info[:k + 1, k + 2] = info[k + 2, :k + 1] = uz.T @ (dth * ur) / sigma2
        info[k + 1, k + 1] = -self.n_eff / (2 * sigma2**2) + r @ pr / sigma2**3
        info[k + 1, k + 2] = info[k + 2, k + 1] = ur @ (dth * ur) / (2 * sigma2**2)
        info[k + 2, k + 2] = (-0.5 * np.sum((a / (1.0 + a * phi)) ** 2)
                              + np.sum(a * ur**2 / (1.0 + a * phi) ** 3) / sigma2)
        return info


def fit_sar_re(design: Design, *, estimator: str = "sar_ml", time_effects: bool = False, lee_yu: bool = True,
               information: str = "expected") -> Estimate:
    """Fit a SAR (or SDM, with ``W_<channel>_<x>`` columns) panel with random unit effects by maximum likelihood.

    Parameters
    ----------
    design : Design
        From :func:`interdep.models.design.build_design` with ``effects: none`` (so ``X`` holds ``const``); one
        channel; balanced or unbalanced, ``W`` may vary by year.
    estimator : str
        Name recorded in the result.
    time_effects : bool
        Year fixed effects too (``effects: random_time``). With ``lee_yu`` and every ``W_t`` row-standardised,
        islands allowed (balanced or not, ``W_t`` varying or not), they are removed exactly by the Lee-Yu (2010) time
        transformation (the likelihood of the data demeaned within each year, module docstring), which removes
        the O(1/N) bias of rho; otherwise the year dummies enter ``X`` as coefficients (the direct approach; splm
        with ``factor(year)``). The constant and year effects are not reported.
    lee_yu : bool
        Use the time transformation where it applies.
    information : {"expected", "observed"}
        Covariance from the analytical expected information (default, as the fixed-effects fits) or the
        analytical observed information (minus the Hessian; what splm's finite-difference Hessian approximates
        for rho and phi).

    Returns
    -------
    Estimate
        Terms: the design's columns (without ``const`` with time effects), then ``rho_<channel>``. ``sigma2`` is
        the idiosyncratic variance (ML: SSR / n, n - T with the transformation); ``diagnostics`` holds
        ``random_effects`` (``phi = sigma2_mu / sigma2`` and its standard error, ``sigma2_mu``),
        ``cov_beta_gls`` (splm's beta covariance) and ``notes``. ``log_likelihood`` is the likelihood of the
        untransformed model (year dummies concentrated out) at the estimates' rho and phi;
        ``log_likelihood_transformed`` the maximised transformed one, when used.
    """
    if information not in ("expected", "observed"):
        raise ValueError(f"information must be 'expected' or 'observed', not {information!r}")
    with single_thread_blas():
        t0 = time.perf_counter()
        transform = time_effects and lee_yu and transform_applies(design)
        re = _RandomEffects(design, time_effects, transform=transform)
        phi, _ = re.best_phi()
        rho, _ = re.best_rho(phi)
        beta_all, sigma2, loglik = re.evaluate(rho, phi)
        loglik_transformed = loglik if transform else None
        if transform:
            loglik = _RandomEffects(design, True).evaluate(rho, phi)[2]
        info = (re.information if information == "expected" else re.observed_information)(beta_all, rho, sigma2, phi)
        try:
            cov_all = np.linalg.inv(info)
        except np.linalg.LinAlgError as err:
            raise EstimationError(f"model {design.model_id!r}: singular information matrix") from err
        k = re.X.shape[1]
        shown = [i for i, nm in enumerate(re.names) if nm in design.names and not (time_effects and nm == "const")]
        xs = re.quasi_demean(re.X, phi)
        cov_gls = sigma2 * np.linalg.inv(xs.T @ xs)
    notes = [f"random unit effects (ML): phi = sigma2_mu / sigma2 = {phi:.6g}, quasi-demeaning with theta_i = "
             "(1 + T_i phi)^(-1/2) per state (exact for unbalanced panels); sigma2 = SSR/n (ML); s.e. from the "
             f"{information} information of (beta, rho, sigma2, phi)"]
    if transform:
        n_islands = sum(int(isl.sum()) for isl in re.islands)
        notes.append("year effects by the Lee-Yu (2010) time transformation (every W_t row-standardised; exact "
                     "also unbalanced): likelihood of the data demeaned within each year"
                     + (f" (islands and connected states separately; {n_islands} island state-years)" if n_islands
                        else "")
                     + f", state-effect covariance from D'QD ({len(re.a)} directions), "
                     f"-{re.jacobian_periods} log(1 - rho), sigma2 = SSR/(n - {re.n - re.n_eff})")
    elif time_effects:
        notes.append(f"year effects as fixed coefficients ({len(design.years) - 1} year dummies, the direct approach"
                     + ("" if not lee_yu else "; the Lee-Yu time transformation needs every W_t "
                        "row-standardised (islands allowed when no state has one as neighbour): rho carries an "
                        "O(1/N) downward bias") + ")")
    converged, message = True, ""
    if at_bound(rho, re.bounds):
        converged, message = False, "rho at the boundary of the admissible interval"
    if phi <= PHI_BOUNDS[0] * 1.01:
        notes.append("phi at its lower bound (no state-level variance): the random-effects fit is the pooled one")
    elif phi >= PHI_BOUNDS[1] * 0.99:
        converged = False
        message = (message + "; " if message else "") + "phi at its upper bound"
    keep = [*shown, k]
    diagnostics: dict[str, object] = {
        "random_effects": {"phi": phi, "phi_std_error": float(np.sqrt(cov_all[k + 2, k + 2])),
                           "sigma2_mu": phi * sigma2, "sigma2": sigma2, "time_effects": time_effects,
                           "time_transformation": transform},
        "cov_beta_gls": cov_gls[np.ix_(shown, shown)],
        "rho_bounds": {re.channel: list(re.bounds)},
        "notes": notes,
        "seconds_estimation": time.perf_counter() - t0,
    }
    if loglik_transformed is not None:
        diagnostics["log_likelihood_transformed"] = float(loglik_transformed)
    return Estimate(
        estimator=estimator,
        terms=[re.names[i] for i in shown] + [f"rho_{re.channel}"],
        params=np.concatenate([beta_all[shown], [rho]]),
        cov=cov_all[np.ix_(keep, keep)],
        sigma2=sigma2,
        n_obs=design.n_obs,
        log_likelihood=float(loglik),
        n_params_likelihood=len(shown) + 2,  # coefficients, rho and phi (not sigma2 nor year effects, as FE fits)
        converged=converged,
        message=message,
        diagnostics=diagnostics,
    )


def profile_re(design: Design, rho_hat: float, *, time_effects: bool = False, lee_yu: bool = True,
               points: int = 41, half_width: float = 0.3) -> list[tuple[str, float, float]]:
    """The log-likelihood the estimator maximises (the transformed one with the time transformation) profiled
    over ``rho`` (beta, sigma2 and phi maximised at each ``rho``): rows ``(channel, rho, log_likelihood)`` on
    ``rho_hat +- half_width`` within the admissible interval."""
    with single_thread_blas():
        re = _RandomEffects(design, time_effects,
                            transform=time_effects and lee_yu and transform_applies(design))
        lo, hi = re.bounds
        margin = 1e-3 * (hi - lo)
        grid = np.linspace(max(lo + margin, rho_hat - half_width), min(hi - margin, rho_hat + half_width), points)
        return [(re.channel, float(r), re.best_phi(float(r), xatol=1e-6)[1]) for r in grid]


def hausman(fixed: Estimate, random: Estimate) -> dict[str, object]:
    """Spatial Hausman test of random against fixed unit effects (splm's ``sphtest``).

    Compares the coefficients the two fits share (the slopes: the fixed-effects fit has no constant, and rho is
    left out as in splm), ``H = |d' (V_fixed - V_random)^-1 d|`` ~ chi2(len(d)). Under the null (effects
    uncorrelated with the regressors) both are consistent and the random-effects one efficient.

    Returns
    -------
    dict
        ``statistic``, ``df``, ``p_value``, ``terms`` and ``variance_difference_positive_definite`` (when it is
        not, the statistic's chi-squared reference is doubtful; splm takes the absolute value regardless).
    """
    terms = [t for t in fixed.terms if t in random.terms and not t.startswith("rho_")]
    if not terms:
        raise EstimationError("Hausman test: the fixed- and random-effects fits share no coefficient")
    fi = [fixed.terms.index(t) for t in terms]
    ri = [random.terms.index(t) for t in terms]
    d = fixed.params[fi] - random.params[ri]
    dv = fixed.cov[np.ix_(fi, fi)] - random.cov[np.ix_(ri, ri)]
    try:
        stat = float(abs(d @ np.linalg.solve(dv, d)))
    except np.linalg.LinAlgError as err:
        raise EstimationError("Hausman test: the difference of the covariance matrices is singular") from err
    df = len(terms)
    return {"statistic": stat, "df": df, "p_value": float(stats.chi2.sf(stat, df)), "terms": terms,
            "variance_difference_positive_definite": bool(np.all(np.linalg.eigvalsh((dv + dv.T) / 2) > 0))}
