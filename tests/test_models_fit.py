"""fit_model and the design builder: dispatch, fit.json content, sample handling, input errors."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_models_panel_helpers import simulate_panel

from interdep.errors import EstimationError, InputError
from interdep.models.design import EffectsProjector, restrict_weights
from interdep.models.fit import ESTIMATORS, SPEC_KEYS, FitResult, fit_model, spec_schema
from interdep.models.result import IMPACT_COLUMNS

FIT_KEYS = {"model_id", "estimator", "weights", "outcome", "regressors", "years", "effects", "n_obs", "n_units",
            "n_periods", "log_likelihood", "aic", "sigma2", "converged", "rho", "seconds", "notes"}


@pytest.fixture(scope="module")
def sim():
    return simulate_panel(n=30, t=4, rho=(0.4, 0.2), effects="twoway", drop=0.1, seed=12)


def spec(**kw) -> dict:
    base = {"id": "m1", "estimator": "sar_ml", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"],
            "years": [2000, 2003], "effects": "twoway", "impact_draws": 200}
    return {**base, **kw}


@pytest.mark.parametrize("estimator", ["ols", "slx", "sar_ml", "sdm_ml"])
@pytest.mark.parametrize("effects", ["none", "unit", "time", "twoway"])
def test_fit_model_panel_estimators(sim, estimator, effects):
    res = fit_model(spec(estimator=estimator, effects=effects, weights=["c0", "c1"]), *sim)
    assert isinstance(res, FitResult)
    assert set(res.fit) >= FIT_KEYS
    json.dumps(res.fit, allow_nan=False)
    assert res.fit["n_obs"] == len(res.sample) == res.estimate.n_obs
    assert list(res.sample.columns) == ["ccode", "year"]
    assert list(res.impacts.columns) == IMPACT_COLUMNS
    assert res.impacts["estimate"].notna().all()
    coefs = res.estimate.coefficients()
    assert coefs["std_error"].notna().all()
    if estimator in ("sar_ml", "sdm_ml"):
        assert set(res.fit["rho"]) == {"c0", "c1"}
        assert res.estimate.terms[-2:] == ["rho_c0", "rho_c1"]
    if effects != "none":
        assert "const" not in res.estimate.terms


def test_cross_section_estimators_dispatch(sim):
    panel, graphs = sim
    for estimator in ("sem_ml", "sar_gmm", "sac", "sac_ml"):
        res = fit_model(spec(estimator=estimator, effects="none"), panel, graphs)
        assert res.fit["estimator"] == estimator
        json.dumps(res.fit, allow_nan=False)
        if estimator in ("sar_gmm", "sac"):
            assert res.fit["log_likelihood"] is None and res.fit["aic"] is None
        if estimator in ("sem_ml", "sac", "sac_ml"):
            assert "c0" in res.fit["lambda"]


def test_fit_json_notes_rows_dropped_and_restandardised(sim):
    panel, graphs = sim
    panel = panel.copy()
    panel.loc[[0, 5, 40], "x1"] = np.nan
    res = fit_model(spec(effects="unit"), panel, graphs)
    notes = " ".join(res.fit["notes"])
    assert "3 of" in notes and "dropped" in notes
    assert "row-standardised again" in notes
    assert "degrees-of-freedom correction" in notes and "unbalanced panel" in notes
    assert res.fit["n_obs"] == len(sim[0]) - 3


def test_sample_is_sorted_by_year_then_ccode(sim):
    panel, graphs = sim
    shuffled = panel.sample(frac=1.0, random_state=0)
    a = fit_model(spec(), shuffled, graphs)
    b = fit_model(spec(), panel, graphs)
    np.testing.assert_array_equal(a.estimate.params, b.estimate.params)
    s = a.sample
    assert s.equals(s.sort_values(["year", "ccode"]).reset_index(drop=True))


def test_rerun_is_identical(sim):
    a = fit_model(spec(estimator="sdm_ml", weights=["c0", "c1"]), *sim)
    b = fit_model(spec(estimator="sdm_ml", weights=["c0", "c1"]), *sim)
    pd.testing.assert_frame_equal(a.impacts, b.impacts)
    pd.testing.assert_frame_equal(a.estimate.coefficients(), b.estimate.coefficients())


def test_one_year_is_a_cross_section(sim):
    res = fit_model(spec(years=[2001], effects="none"), *sim)
    assert res.fit["n_periods"] == 1 and res.fit["years"] == [2001, 2001]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"estimator": "sar_magic"}, "unknown estimator 'sar_magic'"),
        ({"weights": ["trade"]}, "unknown weights channel 'trade'"),
        ({"regressors": ["x1", "gdp"]}, "column 'gdp'"),
        ({"outcome": "nope"}, "column 'nope'"),
        ({"effects": "fixed"}, "unknown effects 'fixed'"),
        ({"colour": "red"}, "unknown specification key(s) colour"),
        ({"estimator": "sem_ml"}, "supports only effects: none"),
        ({"estimator": "sem_ml", "effects": "none", "weights": ["c0", "c1"]}, "exactly one weights channel"),
        ({"weights": []}, "needs at least one weights channel"),
        ({"wx_regressors": ["x9"], "estimator": "sdm_ml"}, "wx_regressors entry 'x9'"),
    ],
)
def test_bad_specifications_name_the_model_and_value(sim, change, fragment):
    with pytest.raises(InputError) as err:
        fit_model(spec(**change), *sim)
    assert "'m1'" in str(err.value)
    assert fragment in str(err.value)


def test_collinear_and_absorbed_regressors_are_named(sim):
    panel, graphs = sim
    panel = panel.assign(x3=lambda d: 2 * d["x1"] - d["x2"], size=lambda d: d["ccode"] * 1.0)
    with pytest.raises(EstimationError, match="x3"):
        fit_model(spec(regressors=["x1", "x2", "x3"]), panel, graphs)
    with pytest.raises(EstimationError, match="size"):  # time-invariant: absorbed by unit effects
        fit_model(spec(regressors=["x1", "size"], effects="unit"), panel, graphs)


def test_constant_outcome_is_rejected(sim):
    panel, graphs = sim
    with pytest.raises(InputError, match="constant"):
        fit_model(spec(), panel.assign(y=3.0), graphs)


def test_missing_graph_year_and_state_are_named(sim):
    panel, graphs = sim
    short = {"c0": {y: g for y, g in graphs["c0"].items() if y != 2002}}
    with pytest.raises(InputError, match="no graph for year 2002"):
        fit_model(spec(), panel, short)
    extra = pd.concat([panel, panel.iloc[[0]].assign(ccode=999)], ignore_index=True)
    with pytest.raises(InputError, match="not in weights 'c0'"):
        fit_model(spec(), extra, graphs)


def test_restrict_weights_restandardises_and_keeps_islands():
    w = sp.csr_array(np.array([[0, 0.5, 0.5], [1.0, 0, 0], [0.5, 0.5, 0]]))
    sub, removed = restrict_weights(w, [10, 20, 30], [20, 30])
    assert removed
    np.testing.assert_allclose(sub.toarray(), [[0, 0], [1.0, 0]])  # 20 lost its only neighbour: island
    same, removed = restrict_weights(w, [10, 20, 30], [10, 20, 30])
    assert not removed
    np.testing.assert_allclose(same.toarray(), w.toarray())


def test_twoway_projection_is_exact_for_unbalanced_panels():
    rng = np.random.default_rng(0)
    units = rng.integers(0, 8, size=60)
    periods = rng.integers(0, 5, size=60)
    Q = EffectsProjector(units, periods, "twoway")
    D = np.column_stack([units == u for u in np.unique(units)] + [periods == p for p in np.unique(periods)])
    v = rng.normal(size=(60, 2))
    expected = v - D @ np.linalg.lstsq(D.astype(float), v, rcond=None)[0]
    np.testing.assert_allclose(Q(v), expected, atol=1e-12)
    np.testing.assert_allclose(Q(Q(v)), Q(v), atol=1e-12)


def test_dynamic_option_through_fit_model(sim):
    res = fit_model(spec(dynamic=True, effects="unit"), *sim)
    assert "y_lag1" in res.estimate.terms and "W_c0_y_lag1" in res.estimate.terms
    assert "stability" in res.fit and "stable" in res.fit["stability"]
    assert res.fit["years"][0] == 2001  # the first year has no lag
    assert any("short-run" in n for n in res.fit["notes"])


def test_schema_fragment_accepts_the_design_example_and_rejects_unknown_keys():
    schema = spec_schema()
    assert set(schema["properties"]) == set(SPEC_KEYS)
    assert schema["properties"]["estimator"]["enum"] == list(ESTIMATORS)
    example = {"id": "sar_contiguity_fe", "estimator": "sar_ml", "weights": ["contiguity"],
               "outcome": "log_contrib", "regressors": ["log_gdppc", "log_pop", "polity2"], "years": [1990, 2014],
               "effects": "twoway"}
    jsonschema.validate(example, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "extra": 1}, schema)


def test_two_channel_s2sls_is_two_stage_least_squares_and_recovers_the_truth():
    """sar_gmm with two channels: both W_c y endogenous, instruments X, W_1 X, W_2 X. Checked against the 2SLS
    formula written out, and the estimates lie near the truth on a large simulated cross-section."""
    from interdep.models.cross_section import fit_sar_gmm

    panel, graphs = simulate_panel(n=1500, t=1, rho=(0.4, 0.2), beta=(1.0, -1.0), seed=11, k=4)
    est = fit_model({"id": "gmm2", "estimator": "sar_gmm", "weights": ["c0", "c1"], "outcome": "y",
                     "regressors": ["x1", "x2"], "effects": "none", "impact_draws": 0}, panel, graphs).estimate
    coefs = est.coefficients().set_index("term")
    for term, truth in (("rho_c0", 0.4), ("rho_c1", 0.2), ("x1", 1.0), ("x2", -1.0)):
        assert abs(coefs.loc[term, "estimate"] - truth) < 4 * coefs.loc[term, "std_error"], term

    year = next(iter(graphs["c0"]))
    w1, w2 = graphs["c0"][year].sparse, graphs["c1"][year].sparse
    frame = panel.sort_values("ccode")
    y = frame["y"].to_numpy()
    X = np.column_stack([np.ones(len(y)), frame[["x1", "x2"]].to_numpy()])
    Z = np.column_stack([X, w1 @ y, w2 @ y])
    H = np.column_stack([X, w1 @ X[:, 1:], w2 @ X[:, 1:]])
    P = H @ np.linalg.solve(H.T @ H, H.T)
    expected = np.linalg.solve(Z.T @ P @ Z, Z.T @ P @ y)
    ours = fit_sar_gmm(y, X, ["const", "x1", "x2"], [w1, w2], ["c0", "c1"], robust=None)
    np.testing.assert_allclose(ours.params, expected, rtol=1e-10)
    assert ours.terms == ["const", "x1", "x2", "rho_c0", "rho_c1"]
