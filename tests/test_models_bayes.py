"""Bayesian spatial Tobit / probit (interdep.models.bayes): sampler pieces against exact answers, the Gaussian
limit against sar_ml, recovery of a simulated panel, determinism, and the cross-check against R spatialprobit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats
from test_models_panel_helpers import simulate_panel

from interdep.errors import InputError
from interdep.models.bayes.censored import LatentSweep
from interdep.models.bayes.core import (
    Chains,
    convergence,
    diagnostics,
    griddy_draw,
    truncated_normal,
    write_draws,
)
from interdep.models.fit import fit_model

FAST = {"draws": 1500, "burn_in": 300, "chains": 2}


def _ar1(rng: np.random.Generator, chains: int, n: int, phi: float) -> np.ndarray:
    e = rng.normal(size=(chains, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def test_ess_and_rhat_of_ar1_chains():
    """ESS of AR(1) chains is n (1 - phi) / (1 + phi); R-hat flags a chain stuck elsewhere."""
    rng = np.random.default_rng(1)
    x = _ar1(rng, 4, 5000, 0.5)
    ch = Chains(["a"], x[:, :, None], 0, 1, 0, 0.0)
    d = diagnostics(ch).iloc[0]
    assert d["ess_bulk"] == pytest.approx(20000 / 3, rel=0.15)
    assert d["rhat"] < 1.005
    assert convergence(diagnostics(ch)) == (True, "")
    shifted = x.copy()
    shifted[0] += 1.0
    ok, reason = convergence(diagnostics(Chains(["a"], shifted[:, :, None], 0, 1, 0, 0.0)))
    assert not ok and "R-hat of a" in reason
    ok, reason = convergence(diagnostics(Chains(["a"], x[:, :80, None], 0, 1, 0, 0.0)))
    assert not ok and "smallest ESS" in reason


@pytest.mark.parametrize("mean, side", [(-3.0, -1), (2.0, -1), (0.5, 1), (-4.0, 1), (1.0, 0)])
def test_truncated_normal_moments(mean, side):
    rng = np.random.default_rng(2)
    x = truncated_normal(np.full(200_000, mean), np.full(200_000, 1.5), np.full(200_000, side), rng)
    lo, hi = {-1: (-np.inf, 0.0), 1: (0.0, np.inf), 0: (-np.inf, np.inf)}[side]
    ref = stats.truncnorm((lo - mean) / 1.5, (hi - mean) / 1.5, loc=mean, scale=1.5)
    assert (x >= lo).all() and (x <= hi).all()
    assert x.mean() == pytest.approx(ref.mean(), abs=4 * ref.std() / np.sqrt(x.size))
    assert x.std() == pytest.approx(ref.std(), rel=0.01)


def test_truncated_normal_far_tail_is_finite():
    x = truncated_normal(np.array([40.0, -40.0]), np.array([1.0, 1.0]), np.array([-1, 1]),
                         np.random.default_rng(3))
    assert np.isfinite(x).all() and x[0] <= 0 and x[1] > 0 and abs(x).max() < 0.2


def test_griddy_draw_reproduces_the_tabulated_density():
    grid = np.linspace(-1, 1, 2001)
    rng = np.random.default_rng(4)
    x = np.array([griddy_draw(grid, -0.5 * ((grid - 0.3) / 0.1) ** 2, rng) for _ in range(4000)])
    assert x.mean() == pytest.approx(0.3, abs=4 * 0.1 / np.sqrt(x.size))
    assert x.std() == pytest.approx(0.1, rel=0.04)


def test_latent_sweep_targets_the_exact_truncated_conditional():
    """With rho, sigma2 and the mean fixed, the sweep's stationary law of the latent rows is the multivariate
    normal of z given the observed rows, truncated: compared with rejection sampling from that exact law."""
    n = 7
    a = np.zeros((n, n))
    for i in range(n):  # a ring plus one chord: neighbours of neighbours share sets
        a[i, (i + 1) % n] = a[(i + 1) % n, i] = 1
    a[0, 3] = a[3, 0] = 1
    W = a / a.sum(axis=1, keepdims=True)
    rho, sigma2 = 0.6, 1.3
    rng = np.random.default_rng(5)
    mean = rng.normal(size=n)
    A = np.eye(n) - rho * W
    latent = np.array([0, 1, 2, 3, 5])
    side = np.array([-1, -1, 1, 0, -1])
    fixed = np.setdiff1d(np.arange(n), latent)
    z = A @ np.zeros(n)
    z[fixed] = [0.7, 1.1]
    z[latent] = np.where(side > 0, 0.5, -0.5)
    e = A @ z - mean
    sweep = LatentSweep(sp.csr_array(W), latent, side)
    assert sweep.n_sets >= 2
    draws = np.empty((12000, len(latent)))
    for s in range(draws.shape[0]):
        sweep.sweep(z, e, rho, sigma2, rng)
        draws[s] = z[latent]
    np.testing.assert_allclose(e, A @ z - mean, atol=1e-10)  # the residual is kept in step
    # exact: z ~ N(A^-1 mean, sigma2 (A'A)^-1); condition on the fixed rows, then truncate by rejection
    m = np.linalg.solve(A, mean)
    P = A.T @ A / sigma2
    cov = np.linalg.inv(P[np.ix_(latent, latent)])
    mu = m[latent] - cov @ P[np.ix_(latent, fixed)] @ (z[fixed] - m[fixed])
    ref = rng.multivariate_normal(mu, cov, size=300_000)
    ok = np.all(np.where(side < 0, ref <= 0, True) & np.where(side > 0, ref > 0, True), axis=1)
    ref = ref[ok]
    ch = Chains([str(i) for i in latent], draws[None], 0, 1, 0, 0.0)
    mcse = diagnostics(ch)["mcse"].to_numpy()
    se = np.sqrt(mcse**2 + ref.var(axis=0) / len(ref))
    assert np.all(np.abs(draws.mean(axis=0) - ref.mean(axis=0)) < 4 * se)
    np.testing.assert_allclose(draws.std(axis=0), ref.std(axis=0), rtol=0.03)


def _panel(effects: str, seed: int, shift_quantile: float | None):
    panel, graphs = simulate_panel(n=60, t=6, rho=(0.4,), effects=effects, seed=seed, drop=0.1)
    if shift_quantile is None:
        panel["y"] = panel["y"] - panel["y"].min() + 0.5  # nothing censored
    else:
        panel["y"] = panel["y"] - np.quantile(panel["y"], shift_quantile)
    panel["y_tobit"] = panel["y"].clip(lower=0)
    panel["y_probit"] = (panel["y"] > 0).astype(float)
    return panel, graphs


def _spec(estimator: str, outcome: str, effects: str, **kw) -> dict:
    return {"id": f"{estimator}_{effects}", "estimator": estimator, "weights": ["c0"], "outcome": outcome,
            "regressors": ["x1", "x2"], "effects": effects, **kw}


def test_tobit_without_censoring_is_the_gaussian_sar_posterior():
    """No censored rows: sar_tobit's posterior (flat priors) centres on the sar_ml estimate. Posterior mean and
    MLE differ by O(1/n) as well as by Monte Carlo error: within 3 MCSE + 0.1 posterior sd; the posterior sd
    matches the ML standard error to 10%. Without effects: with them, the posterior integrates the effects out
    (rho's marginal has the exponent (n - k - rank D) / 2 where the profile likelihood has n / 2), so it differs
    from sar_ml by design, in the direction of the Lee-Yu correction."""
    panel, graphs = _panel("none", 6, None)
    bayes = fit_model(_spec("sar_tobit", "y_tobit", "none", mcmc=FAST), panel, graphs)
    ml = fit_model(_spec("sar_ml", "y", "none"), panel, graphs).estimate.coefficients()
    post = bayes.estimate.coefficients().set_index("term")
    mcse = pd.Series({k: v["mcse"] for k, v in bayes.fit["mcmc"]["diagnostics"].items()})
    for term, est, se in ml[["term", "estimate", "std_error"]].itertuples(index=False):
        tol = 3 * mcse[term] + 0.1 * post.loc[term, "std_error"]
        assert post.loc[term, "estimate"] == pytest.approx(est, abs=tol), term
        assert post.loc[term, "std_error"] == pytest.approx(se, rel=0.1), term
    assert bayes.fit["mcmc"]["latent_rows"] == 0
    assert bayes.fit["converged"], bayes.fit["message"]


@pytest.mark.parametrize("estimator, outcome, effects", [("sar_tobit", "y_tobit", "twoway"),
                                                         ("sar_probit", "y_probit", "time")])
def test_recovers_a_simulated_panel(estimator, outcome, effects):
    """Unbalanced panel, a W per year, ~40% censored: the truth (rho 0.4, beta 1, -1) lies within 3 posterior
    sds. (Probit with unit effects at T = 6 carries a large incidental-parameter bias; it is checked with time
    effects here and with two-way effects in the Monte Carlo of benchmarks/bench_bayes.py.)"""
    panel, graphs = _panel(effects, 7, 0.4)
    res = fit_model(_spec(estimator, outcome, effects, mcmc=FAST), panel, graphs)
    coef = res.estimate.coefficients().set_index("term")
    for term, truth in {"x1": 1.0, "x2": -1.0, "rho_c0": 0.4}.items():
        assert abs(coef.loc[term, "estimate"] - truth) < 3 * coef.loc[term, "std_error"], (term, coef)
    assert set(res.impacts["scale"]) == {"latent", "observed"}
    obs = res.impacts.set_index(["term", "scale", "effect"])["estimate"]
    assert 0 < obs[("x1", "observed", "direct")] < obs[("x1", "latent", "direct")]  # f_i in (0, 1) or phi <= 0.4
    total = obs[("x1", "latent", "total")]
    assert total == pytest.approx(obs[("x1", "latent", "direct")] + obs[("x1", "latent", "indirect")])


def test_fixed_seed_gives_identical_draws(tmp_path):
    panel, graphs = _panel("time", 8, 0.4)
    spec = _spec("sar_tobit", "y_tobit", "time", mcmc={"draws": 100, "burn_in": 10, "chains": 2, "seed": 5})
    paths = []
    for i, seed in enumerate((5, 5, 6)):
        spec["mcmc"]["seed"] = seed
        res = fit_model(spec, panel, graphs)
        paths.append(tmp_path / f"d{i}.parquet")
        write_draws(res.draws, paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    back = pd.read_parquet(paths[0])
    assert list(back.columns) == ["chain", "draw", "x1", "x2", "rho_c0", "sigma2"] and len(back) == 200


def test_units_without_identified_effects_are_removed_with_a_note():
    panel, graphs = _panel("twoway", 9, 0.4)
    never = panel["ccode"].unique()[:3]
    panel.loc[panel["ccode"].isin(never), "y_tobit"] = 0.0
    res = fit_model(_spec("sar_tobit", "y_tobit", "twoway", mcmc={"draws": 100, "burn_in": 20}), panel, graphs)
    assert not set(never) & set(res.sample["ccode"])
    note = next(n for n in res.fit["notes"] if "with censored at 0 in every year removed" in n)
    assert all(str(int(c)) in note.split("ccode ")[1].split(", ") for c in never)
    assert not res.fit["converged"]  # 200 draws cannot give an ESS of 400
    assert "smallest ESS" in res.fit["message"]


@pytest.mark.parametrize("spec_change, match", [
    ({"weights": ["c0", "c0"]}, "exactly one weights channel"),
    ({"mcmc": {"draws": 0}}, "mcmc.draws"),
    ({"mcmc": {"drafts": 10}}, "unknown mcmc key"),
    ({"priors": {"rho_a": -1}}, "priors need"),
    ({"outcome": "y"}, "censored at 0"),
])
def test_bad_specs_are_rejected(spec_change, match):
    panel, graphs = _panel("none", 10, 0.4)
    with pytest.raises(InputError, match=match):
        fit_model({**_spec("sar_tobit", "y_tobit", "none"), **spec_change}, panel, graphs)
