"""Heteroskedasticity-robust (QML sandwich) standard errors of the panel SAR ML (``se: robust``, issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from interdep.config import check_config, check_schema
from interdep.errors import InputError
from interdep.models.design import build_design
from interdep.models.fit import fit_model
from interdep.models.panel_ml import _parts, linear_quadratic_covariance, score_forms
from interdep.montecarlo import Channel, Design, design_graphs, parse_study, simulate_panel


def _spec(effects: str, channels: list[str], **extra) -> dict:
    return {"id": "m", "estimator": "sar_ml", "weights": channels, "outcome": "y", "regressors": ["x1", "x2"],
            "effects": effects, "impact_draws": 0, **extra}


@pytest.mark.parametrize("effects", ["twoway", "unit"])
def test_robust_close_to_classical_under_homoskedasticity_and_not_under_heteroskedasticity(effects):
    """n = 2,000 (200 states x 10 years), normal homoskedastic errors: the sandwich estimates the same variance as
    the information, with a relative sampling error of order sqrt(2 / n) ~ 3% for a variance (1.6% for a s.e.),
    so every robust s.e. must be within 10% of the classical one. The same check fails for x1 when the error
    variance depends on x1 (the sandwich then differs from the information by a factor ~2 for x1)."""
    panel, graphs = simulate_panel(n=200, t=10, rho=(0.4,), effects=effects, seed=3, varying=True)
    classical = fit_model(_spec(effects, ["c0"]), panel, graphs)
    robust = fit_model(_spec(effects, ["c0"], se="robust"), panel, graphs)
    np.testing.assert_array_equal(robust.estimate.params, classical.estimate.params)
    ratio = robust.estimate.std_errors / classical.estimate.std_errors
    assert np.all(np.abs(ratio - 1) < 0.10), dict(zip(robust.estimate.terms, ratio, strict=True))
    assert classical.fit["se"] == "classical" and robust.fit["se"] == "robust"
    assert any("QML sandwich" in note for note in robust.fit["notes"])

    panel, graphs = simulate_panel(n=200, t=10, rho=(0.4,), effects=effects, seed=3, varying=True, hetero=1.5)
    classical = fit_model(_spec(effects, ["c0"]), panel, graphs)
    robust = fit_model(_spec(effects, ["c0"], se="robust"), panel, graphs)
    ratio = dict(zip(robust.estimate.terms, robust.estimate.std_errors / classical.estimate.std_errors,
                     strict=True))
    assert ratio["x1"] > 1.25, ratio


def test_score_variance_matches_brute_force_on_a_tiny_panel():
    """An independent check of the variance formula and of the score's forms: a 10-state, 3-year panel with unit
    effects, two channels, W different every year and a missing state-year (n = 29). The exact score of the
    likelihood, (X'Q u, (W_c y)'Q u, u'Qu / 2) / s2 with u = A y - X beta, is computed from 200,000 simulated
    outcomes y with skewed, heavy-tailed, heteroskedastic errors (centred chi-square(3), variances varying 16-fold),
    and its empirical covariance is compared with :func:`linear_quadratic_covariance` of :func:`score_forms` at the
    true parameters and the true moments. The Monte Carlo error of each empirical variance, from 20 batches, sets
    the tolerance (4 of its standard errors); the same comparison without the fourth-moment term (normal errors
    assumed) or with a naive outer product of per-row scores must fail it."""
    panel, graphs = simulate_panel(n=10, t=3, rho=(0.3, 0.2), effects="unit", seed=5, varying=True, drop=0.04)
    design = build_design(_spec("unit", ["c0", "c1"]), panel, graphs)
    n = design.n_obs
    assert n < 30
    rng = np.random.default_rng(7)
    rho, beta, s2 = np.array([0.3, 0.2]), np.array([1.0, -1.0]), 1.3
    units = np.unique(design.sample["ccode"], return_inverse=True)[1]
    mu = design.X @ beta + rng.normal(size=units.max() + 1)[units]
    var = s2 * np.exp(rng.uniform(-1.4, 1.4, size=n))
    skew, kurt = np.sqrt(8 / 3), 3 + 12 / 3  # standardised chi-square(3)
    mu3, mu4 = skew * var**1.5, kurt * var**2
    a, B = score_forms(design, _parts(design).Xt, rho, mu, s2)
    analytic = linear_quadratic_covariance(a, B, var, mu3, mu4)

    A = np.zeros((n, n))
    W = [np.zeros((n, n)) for _ in design.channels]
    for c, ch in enumerate(design.channels):
        for blk, w in zip(design.blocks, design.weights[ch], strict=True):
            W[c][blk, blk] = w.toarray()
    A = np.eye(n) - sum(r * w for r, w in zip(rho, W, strict=True))
    Q = design.projector
    X = design.X
    batches = []
    for _ in range(20):
        u = np.sqrt(var)[:, None] * (rng.chisquare(3, size=(n, 10_000)) - 3) / np.sqrt(6)
        y = np.linalg.solve(A, mu[:, None] + u)
        qu = Q(A @ y - (X @ beta)[:, None])  # = Q u
        score = np.vstack([X.T @ qu / s2, *[np.sum((w @ y) * qu, axis=0)[None] / s2 for w in W],
                           np.sum(qu * qu, axis=0)[None] / (2 * s2**2)])
        batches.append(np.cov(score))
    empirical = np.mean(batches, axis=0)
    mcse = np.std(batches, axis=0, ddof=1) / np.sqrt(len(batches))
    z = (analytic - empirical) / mcse
    assert np.all(np.abs(z) < 4), np.round(z, 1)
    # the check can fail: normal fourth moments, or per-row outer products, are far off for the quadratic parts
    normal = linear_quadratic_covariance(a, B, var, mu3, 3 * var**2)
    assert np.abs((normal - empirical) / mcse).max() > 10
    rows = np.column_stack([a[:, j] + (0 if b is None else b.sum(axis=1)) for j, b in enumerate(B)]) * np.sqrt(var)[
        :, None]
    assert np.abs((rows.T @ rows - empirical) / mcse).max() > 10


def test_se_value_is_checked():
    panel, graphs = simulate_panel(n=20, t=3, rho=(0.3,), seed=1)
    with pytest.raises(InputError, match="unknown se 'white'"):
        fit_model(_spec("none", ["c0"], se="white"), panel, graphs)
    with pytest.raises(InputError, match="cluster .*couples states through G"):
        fit_model(_spec("none", ["c0"], se="cluster"), panel, graphs)
    with pytest.raises(InputError, match="sar_ml / sdm_ml only"):
        fit_model({**_spec("none", ["c0"], se="robust"), "estimator": "ols"}, panel, graphs)


def test_se_in_the_config_is_checked(repo):
    """A bad ``se`` fails the schema with one error naming the key; ``cluster`` (allowed by the schema) is refused
    by the config check with the reason, before anything runs."""
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    index = next(i for i, m in enumerate(config["models"]) if m["estimator"] == "sar_ml")
    config["models"][index]["se"] = "white"
    with pytest.raises(InputError, match="is not one of") as err:
        check_schema(config, repo / "config" / "schema.yaml", source="config.yaml")
    assert (err.value.row, err.value.value) == (f"models[{index}].se", "white")
    config["models"][index]["se"] = "robust"
    check_schema(config, repo / "config" / "schema.yaml", source="config.yaml")
    check_config(config, source="config.yaml")
    config["models"][index]["se"] = "cluster"
    check_schema(config, repo / "config" / "schema.yaml", source="config.yaml")
    with pytest.raises(InputError, match="couples states through G") as err:
        check_config(config, source="config.yaml")
    assert err.value.row == f"models[{index}].se"


def test_ring_weights_give_every_state_k_neighbours_and_a_constant_diag_g():
    """The Monte Carlo's ring W (the design where ML stays consistent under heteroskedasticity): every state has k
    neighbours, so diag(W (I - rho W)^-1) is constant; with ``varying`` the order on the circle changes by year."""
    design = Design(id="r", n=12, t=3, channels=(Channel("geo", 0.4, w="ring", k=4, varying=True),))
    graphs = design_graphs(design, seed=1)["geo"]
    mats = [graphs[y].sparse.toarray() for y in design.years]
    for w in mats:
        assert np.array_equal((w > 0).sum(axis=1), np.full(12, 4)) and np.array_equal(w, w.T)
        g = w @ np.linalg.inv(np.eye(12) - 0.4 * w)
        np.testing.assert_allclose(np.diag(g), np.diag(g)[0], rtol=1e-12)
    assert not np.array_equal(mats[0], mats[1])
    with pytest.raises(InputError, match="even k"):
        parse_study({"estimators": {"e": {"estimator": "sar_ml"}},
                     "designs": [{"id": "d", "n": 12, "t": 2, "channels": {"geo": {"rho": 0.3, "w": "ring", "k": 3}}}]})
