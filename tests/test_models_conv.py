"""sar_conv: the convex-combination SAR sampler (interdep.models.bayes.conv).

Checked against an independent computation: for two channels, the exact posterior of ``gamma`` (and ``rho``) on a
grid, from the log-marginal likelihood of each ``W(gamma)`` (interdep.models.bayes.marginal: ``rho`` integrated
numerically, ``beta``, effects and ``sigma`` analytically).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interdep.errors import InputError
from interdep.models.bayes.conv import ConvexLogJacobian, ConvexSAR, ConvexSDM, spillover_impacts, trace_functionals
from interdep.models.bayes.core import diagnostics
from interdep.models.bayes.marginal import _lag_marginal, _mixture_design
from interdep.models.design import build_design
from interdep.models.fit import fit_model
from interdep.montecarlo import Channel, design_graphs, simulate
from interdep.montecarlo import Design as MCDesign

SPEC = {"id": "conv", "estimator": "sar_conv", "weights": ["a", "b"], "outcome": "y", "regressors": ["x1", "x2"],
        "effects": "twoway"}
SDM_SPEC = {**SPEC, "id": "sdmconv", "estimator": "sdm_conv"}


@pytest.fixture(scope="module")
def world():
    mc = MCDesign(id="conv", n=40, t=4, effects="twoway",
                  channels=(Channel("a", 0.3, varying=True), Channel("b", 0.2, varying=True)))
    graphs = design_graphs(mc, 5)
    panel = simulate(mc, graphs, 5, 0).drop(index=[2, 50, 51, 130]).reset_index(drop=True)  # unbalanced
    return panel, graphs


def test_posterior_means_match_the_exact_posterior_on_a_grid(world):
    panel, graphs = world
    design = build_design(SPEC, panel, graphs)
    chains = ConvexSAR(design, 500).run(draws=3000, burn_in=500, chains=2, thin=1, seed=7, impact_draws=0)
    diag = diagnostics(chains).set_index("term")
    grid = np.linspace(0.005, 0.995, 100)
    fits = [_lag_marginal(_mixture_design(design, ["a", "b"], np.array([g, 1 - g]), "sar"), "conv", "sar")
            for g in grid]
    # sar_conv: rho ~ U(-1, 1); the marginal: rho ~ U(admissible interval of W(gamma)) -> reweight by its width
    log_post = np.array([f.log_marginal + np.log(f.interval[1] - f.interval[0]) for f in fits])
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    gamma_exact = post @ grid
    means, sds = np.array([f.rho_mean for f in fits]), np.array([f.rho_sd for f in fits])
    rho_exact = post @ means
    sd_exact = {"gamma_a": float(np.sqrt(post @ (grid - gamma_exact) ** 2)),
                "rho": float(np.sqrt(post @ (sds**2 + means**2) - rho_exact**2))}
    for term, exact in (("gamma_a", gamma_exact), ("rho", rho_exact)):
        mean, mcse = diag.loc[term, "mean"], diag.loc[term, "mcse"]
        assert abs(mean - exact) < 3.5 * mcse + 2e-3, (term, mean, exact, mcse)
        # the spread too (a wrong proposal-density ratio in the independence step narrows it): MC s.e. of an
        # sd ~ sd / sqrt(2 ESS)
        sd, ess = diag.loc[term, "sd"], min(diag.loc[term, "ess_bulk"], diag.loc[term, "ess_tail"])
        assert abs(sd - sd_exact[term]) < 3.5 * sd_exact[term] / np.sqrt(2 * ess) + 2e-3, (term, sd, sd_exact)
    assert diag.loc["gamma_a", "mean"] + diag.loc["gamma_b", "mean"] == pytest.approx(1)


def test_independence_proposal_mixes_gamma_better_than_the_random_walk_alone(world):
    """After burn-in the sweeps alternate the random walk with a t independence proposal fitted to the burn-in:
    on the same seeds the effective sample size of gamma is at least 1.5x that of the random walk alone
    (measured: about 2x); with a burn-in shorter than 100 sweeps there is no independence proposal."""
    panel, graphs = world
    design = build_design(SPEC, panel, graphs)

    class RandomWalkOnly(ConvexSAR):
        def _independence_step(self, s, rng):
            self._random_walk_step(s, rng)

    def gamma_ess(cls, seed):
        model = cls(design, 300)
        chains = model.run(draws=1000, burn_in=300, chains=2, thin=1, seed=seed, impact_draws=0)
        assert model._independence is not None
        d = diagnostics(chains).set_index("term")
        return min(d.loc["gamma_a", "ess_bulk"], d.loc["gamma_a", "ess_tail"])

    both = sum(gamma_ess(ConvexSAR, seed) for seed in range(7, 11))
    walk = sum(gamma_ess(RandomWalkOnly, seed) for seed in range(7, 11))
    assert both > 1.5 * walk, (both, walk)
    short = ConvexSAR(design, 50)
    short.run(draws=100, burn_in=50, chains=1, thin=1, seed=1, impact_draws=0)
    assert short._independence is None


@pytest.mark.parametrize(("world_name", "spec", "terms"), [
    ("world", SPEC, ["x1", "x2", "rho", "gamma_a", "gamma_b"]),
    ("sdm_world", SDM_SPEC, ["x1", "x2", "W_x1", "W_x2", "rho", "gamma_a", "gamma_b"]),
])
def test_fit_model_outputs_and_seeded_draws_are_identical(world_name, spec, terms, request):
    panel, graphs = request.getfixturevalue(world_name)
    spec = {**spec, "mcmc": {"draws": 300, "burn_in": 200, "chains": 2, "seed": 3}, "impact_draws": 50}
    first = fit_model(spec, panel, graphs)
    second = fit_model(spec, panel, graphs)
    pd.testing.assert_frame_equal(first.draws, second.draws, check_exact=True)
    assert first.estimate.coefficients()["term"].tolist() == terms
    fit = first.fit
    assert fit["estimator"] == spec["estimator"] and set(fit["rho"]) == {"a", "b"}
    assert {"ess_min", "rhat_max", "seconds", "priors", "gamma", "log_jacobian"} <= set(fit["mcmc"])
    jac = fit["mcmc"]["log_jacobian"]
    rho_max = float(first.draws["rho"].abs().max())
    bound = ConvexLogJacobian(build_design(SPEC, panel, graphs), ["a", "b"]).bound(rho_max)
    assert jac["adjusted"] and jac["series_order"] == 16 and jac["adjustment_error_bound"] == pytest.approx(bound)
    assert 0 < bound < 0.1  # unbalanced (bound > 0); at rho_max ~0.7 on 156 rows
    assert 0 < jac["exact_evaluations"] < 2 * (300 + 200) + 2  # delayed acceptance: not every proposal
    assert isinstance(fit["converged"], bool) and (fit["converged"] or fit["message"])
    imp = first.impacts
    for x in ("x1", "x2"):
        joint = imp[(imp["term"] == x) & (imp["channel"] == "all") & (imp["effect"] == "indirect")]["estimate"]
        parts = imp[(imp["term"] == x) & imp["channel"].isin(["a", "b"])]["estimate"]
        assert parts.sum() == pytest.approx(float(joint.iloc[0]), rel=1e-9)


@pytest.mark.parametrize("estimator", ["sar_conv", "sdm_conv"])
def test_convex_estimators_need_two_channels(world, estimator):
    panel, graphs = world
    with pytest.raises(InputError, match="two or more"):
        fit_model({**SPEC, "estimator": estimator, "weights": ["a"]}, panel, graphs)


def _dense_jacobian(design, rho, gamma, adjust=True):
    """sum_t log|A_t| - tr(P_tt log A_t) by dense slogdet and scipy.linalg.logm."""
    import scipy.linalg as sla

    proj = design.projector
    total = 0.0
    for t, blk in enumerate(design.blocks):
        w = sum(g * design.weights[c][t].toarray() for g, c in zip(gamma, design.channels, strict=True))
        a = np.eye(len(w)) - rho * w
        total += np.linalg.slogdet(a)[1]
        if adjust and proj.D is not None:
            d = proj.D[blk].toarray()
            total -= np.trace(d @ proj._dtd_pinv @ d.T @ sla.logm(a)).real
    return total


@pytest.mark.parametrize("effects", ["twoway", "unit", "time", "none"])
def test_convex_jacobian_is_within_its_bound_of_the_dense_logm(world, effects):
    """Unbalanced, W varying by year: the adjusted log-Jacobian (exact LU + series of the adjustment) is within
    its stated bound of the dense computation; the bound is what it says (not loose by orders of magnitude at
    large rho); the Taylor surrogate converges to it; unadjusted = plain log-determinants."""
    panel, graphs = world
    design = build_design({**SPEC, "effects": effects}, panel, graphs)
    jac = ConvexLogJacobian(design, ["a", "b"], order=8)
    plain = ConvexLogJacobian(design, ["a", "b"], adjust=False, order=8)
    for rho, g in ((0.3, 0.6), (-0.6, 0.2), (0.85, 0.9)):
        gamma = np.array([g, 1 - g])
        want = _dense_jacobian(design, rho, gamma)
        err = abs(jac.exact(rho, gamma) - want)
        assert err <= jac.bound(rho) + 1e-9, (rho, err, jac.bound(rho))
        assert plain.exact(rho, gamma) == pytest.approx(_dense_jacobian(design, rho, gamma, False), abs=1e-9)
        if abs(rho) < 0.5:
            assert abs(jac.series(rho, gamma) - want) < 1e-3
    if effects in ("unit", "twoway"):
        assert abs(jac.exact(0.85, np.array([0.9, 0.1])) - _dense_jacobian(design, 0.85, np.array([0.9, 0.1]))) \
            > 1e-3 * jac.bound(0.85)  # the bound is not vacuous
    if effects in ("time", "none"):  # every year's W(gamma) 1 = 1: exact
        assert jac.bound(0.85) == 0


@pytest.mark.parametrize("effects", ["unit", "time", "twoway"])
def test_convex_jacobian_balanced_fixed_w_is_lee_yus(effects):
    """Balanced, one fixed W per channel: the adjusted log-Jacobian of W(gamma) is Lee & Yu's transformed
    Jacobian, exactly (no series term left)."""
    mc = MCDesign(id="bal", n=25, t=4, effects="twoway", channels=(Channel("a", 0.3), Channel("b", 0.2)))
    graphs = design_graphs(mc, 3)
    panel = simulate(mc, graphs, 3, 0)
    design = build_design({**SPEC, "effects": effects}, panel, graphs)
    jac = ConvexLogJacobian(design, ["a", "b"])
    assert jac.bound(0.9) < 1e-12
    T = 4
    for rho, g in ((0.4, 0.3), (0.9, 0.8), (-0.7, 0.5)):
        w = g * design.weights["a"][0].toarray() + (1 - g) * design.weights["b"][0].toarray()
        ld, l1 = np.linalg.slogdet(np.eye(len(w)) - rho * w)[1], np.log(1 - rho)
        want = {"unit": (T - 1) * ld, "time": T * (ld - l1), "twoway": (T - 1) * (ld - l1)}[effects]
        assert jac.exact(rho, np.array([g, 1 - g])) == pytest.approx(want, abs=1e-9)


# ----------------------------------------------------------------------------------------------- sdm_conv
@pytest.fixture(scope="module")
def sdm_world():
    """A convex SDM: rho = 0.5, gamma = (0.6, 0.4), theta = (0.5, -0.3), i.e. per channel rho_c = rho gamma_c and
    theta_c = gamma_c theta; unbalanced, W's different every year, two-way effects."""
    rho, gamma, theta = 0.5, (0.6, 0.4), (0.5, -0.3)
    mc = MCDesign(id="sdmconv", n=40, t=4, effects="twoway",
                  channels=(Channel("a", rho * gamma[0], varying=True), Channel("b", rho * gamma[1], varying=True)),
                  theta=tuple(g * v for g in gamma for v in theta))
    graphs = design_graphs(mc, 11)
    panel = simulate(mc, graphs, 11, 0).drop(index=[3, 40, 41, 99]).reset_index(drop=True)
    return panel, graphs


def test_sdm_conv_posterior_matches_the_exact_posterior_on_a_grid(sdm_world):
    """sdm_conv's posterior means and sds of gamma, rho, beta and theta against the exact posterior on a grid of
    gamma, each point the SDM marginal likelihood of W(gamma) with X(gamma) = [X, W(gamma) X] (rho integrated by
    quadrature, beta and theta analytically; their posterior mean given gamma is b0 - E[rho | gamma] b_lag)."""
    from interdep.models.panel_ml import _parts

    panel, graphs = sdm_world
    design = build_design(SDM_SPEC, panel, graphs, spatial_x=True)
    chains = ConvexSDM(design, 500).run(draws=3000, burn_in=500, chains=2, thin=1, seed=7, impact_draws=0)
    assert chains.names == ["x1", "x2", "W_x1", "W_x2", "rho", "gamma_a", "gamma_b", "sigma2"]
    diag = diagnostics(chains).set_index("term")
    grid = np.linspace(0.005, 0.995, 100)
    log_post, rho_mean, rho_sd, coef = [], [], [], []
    for g in grid:
        mix = _mixture_design(design, ["a", "b"], np.array([g, 1 - g]), "sdm")
        f = _lag_marginal(mix, "conv", "sdm")
        log_post.append(f.log_marginal + np.log(f.interval[1] - f.interval[0]))  # sdm_conv: rho ~ U(-1, 1)
        rho_mean.append(f.rho_mean)
        rho_sd.append(f.rho_sd)
        parts = _parts(mix)
        coef.append(parts.b0 - f.rho_mean * parts.bl[:, 0])  # [x1, x2, W_conv_x1, W_conv_x2]
    post = np.exp(np.array(log_post) - max(log_post))
    post /= post.sum()
    rho_mean, rho_sd, coef = np.array(rho_mean), np.array(rho_sd), np.array(coef)
    exact = {"gamma_a": post @ grid, "rho": post @ rho_mean, "x1": post @ coef[:, 0], "x2": post @ coef[:, 1],
             "W_x1": post @ coef[:, 2], "W_x2": post @ coef[:, 3]}
    sd_exact = {"gamma_a": float(np.sqrt(post @ (grid - exact["gamma_a"]) ** 2)),
                "rho": float(np.sqrt(post @ (rho_sd**2 + rho_mean**2) - exact["rho"] ** 2))}
    for term, value in exact.items():
        mean, mcse = diag.loc[term, "mean"], diag.loc[term, "mcse"]
        assert abs(mean - value) < 4 * mcse, (term, mean, value, mcse)
    for term, value in sd_exact.items():
        sd, ess = diag.loc[term, "sd"], min(diag.loc[term, "ess_bulk"], diag.loc[term, "ess_tail"])
        assert abs(sd - value) < 4 * value / np.sqrt(2 * ess), (term, sd, value)
    # the truth (rho 0.5, gamma_a 0.6, theta 0.5 / -0.3) within 3 posterior sd: the data carry it
    for term, truth in (("rho", 0.5), ("gamma_a", 0.6), ("W_x1", 0.5), ("W_x2", -0.3), ("x1", 1.0)):
        assert abs(diag.loc[term, "mean"] - truth) < 3 * diag.loc[term, "sd"], (term, diag.loc[term, "mean"])


def test_spillover_shares_are_the_first_steps_of_the_spillover_also_with_islands():
    """S(beta I + theta W) = beta I + sum_k gamma_k W_k S (rho beta + theta) exactly; each channel's share of the
    impact is its term's sum over the sum of all; checked with dense matrices on W's with islands (rows and
    columns of zeros), where 1'W_k S W 1 (used before for theta) differs from 1'W_k S 1."""
    rng = np.random.default_rng(3)
    n, gamma, rho, beta, theta = 12, np.array([0.7, 0.3]), 0.45, 0.8, -1.3
    mats = []
    for _ in range(2):
        a = np.triu(rng.uniform(size=(n, n)) < 0.3, 1).astype(float)
        a = a + a.T
        a[:2] = a[:, :2] = 0.0  # islands
        rows = a.sum(axis=1, keepdims=True)
        mats.append(np.divide(a, rows, out=np.zeros_like(a), where=rows > 0))
    w = gamma[0] * mats[0] + gamma[1] * mats[1]
    s = np.linalg.inv(np.eye(n) - rho * w)
    steps = [g * m @ s * (rho * beta + theta) for g, m in zip(gamma, mats, strict=True)]
    assert np.allclose(s @ (beta * np.eye(n) + theta * w), beta * np.eye(n) + sum(steps), atol=1e-12)
    f = trace_functionals(w, mats, rho)[None, :] / n
    direct, total, share = spillover_impacts(np.array([beta]), np.array([theta]), gamma, f)
    dense = s @ (beta * np.eye(n) + theta * w)
    assert direct[0] == pytest.approx(np.trace(dense) / n, rel=1e-12)
    assert total[0] == pytest.approx(dense.sum() / n, rel=1e-12)
    want = np.array([st.sum() for st in steps]) / sum(st.sum() for st in steps)
    assert np.allclose(share[0], want, rtol=1e-12)
    wrong = gamma * np.array([(m @ s @ w).sum() * theta + rho * beta * (m @ s).sum() for m in mats])
    assert not np.allclose(share[0], wrong / wrong.sum(), rtol=1e-6)  # the former theta term: not the split
