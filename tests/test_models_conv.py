"""sar_conv: the convex-combination SAR sampler (interdep.models.bayes.conv).

Checked against an independent computation: for two channels, the exact posterior of ``gamma`` (and ``rho``) on a
grid, from the log-marginal likelihood of each ``W(gamma)`` (interdep.models.bayes.marginal: ``rho`` integrated
numerically, ``beta``, effects and ``sigma`` analytically).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interdep.models.bayes.conv import ConvexSAR
from interdep.models.bayes.core import diagnostics
from interdep.models.bayes.marginal import _lag_marginal, _mixture_design
from interdep.models.design import build_design
from interdep.models.fit import fit_model
from interdep.montecarlo import Channel, design_graphs, simulate
from interdep.montecarlo import Design as MCDesign

SPEC = {"id": "conv", "estimator": "sar_conv", "weights": ["a", "b"], "outcome": "y", "regressors": ["x1", "x2"],
        "effects": "twoway"}


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
    grid = np.linspace(0.0025, 0.9975, 200)
    fits = [_lag_marginal(_mixture_design(design, ["a", "b"], np.array([g, 1 - g]), "sar"), "conv", "sar")
            for g in grid]
    # sar_conv: rho ~ U(-1, 1); the marginal: rho ~ U(admissible interval of W(gamma)) -> reweight by its width
    log_post = np.array([f.log_marginal + np.log(f.interval[1] - f.interval[0]) for f in fits])
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    gamma_exact = post @ grid
    rho_exact = post @ np.array([f.rho_mean for f in fits])
    for term, exact in (("gamma_a", gamma_exact), ("rho", rho_exact)):
        mean, mcse = diag.loc[term, "mean"], diag.loc[term, "mcse"]
        assert abs(mean - exact) < 3.5 * mcse + 2e-3, (term, mean, exact, mcse)
    assert diag.loc["gamma_a", "mean"] + diag.loc["gamma_b", "mean"] == pytest.approx(1)


def test_fit_model_outputs_and_seeded_draws_are_identical(world):
    panel, graphs = world
    spec = {**SPEC, "mcmc": {"draws": 300, "burn_in": 200, "chains": 2, "seed": 3}, "impact_draws": 50}
    first = fit_model(spec, panel, graphs)
    second = fit_model(spec, panel, graphs)
    pd.testing.assert_frame_equal(first.draws, second.draws, check_exact=True)
    terms = first.estimate.coefficients()["term"].tolist()
    assert terms == ["x1", "x2", "rho", "gamma_a", "gamma_b"]
    fit = first.fit
    assert fit["estimator"] == "sar_conv" and set(fit["rho"]) == {"a", "b"}
    assert {"ess_min", "rhat_max", "seconds", "priors", "gamma"} <= set(fit["mcmc"])
    assert isinstance(fit["converged"], bool) and (fit["converged"] or fit["message"])
    imp = first.impacts
    for x in ("x1", "x2"):
        joint = imp[(imp["term"] == x) & (imp["channel"] == "a+b") & (imp["effect"] == "indirect")]["estimate"]
        parts = imp[(imp["term"] == x) & imp["channel"].isin(["a", "b"])]["estimate"]
        assert parts.sum() == pytest.approx(float(joint.iloc[0]), rel=1e-9)


def test_sar_conv_needs_two_channels(world):
    from interdep.errors import InputError

    panel, graphs = world
    with pytest.raises(InputError, match="two or more"):
        fit_model({**SPEC, "weights": ["a"]}, panel, graphs)
