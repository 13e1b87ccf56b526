"""``missing: impute`` of sar_tobit / sar_probit: rows whose outcome alone is missing stay in the sample (W keeps
every state) and their outcome is drawn in every sweep; rows with a missing regressor are dropped and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_models_panel_helpers import simulate_panel

from interdep.errors import InputError
from interdep.models.fit import fit_model

MCMC = {"draws": 1500, "burn_in": 300, "chains": 2, "seed": 3}
TERMS = ["x1", "x2", "rho_c0"]


def _data(seed: int = 21):
    """60 states x 6 years, W per year, time effects, ~40% censored; 15% of the outcomes deleted at random."""
    panel, graphs = simulate_panel(n=60, t=6, rho=(0.4,), effects="time", seed=seed, drop=0.0)
    y = panel["y"] - np.quantile(panel["y"], 0.4)
    panel["y_tobit"] = y.clip(lower=0)
    panel["y_probit"] = (y > 0).astype(float)
    gone = np.random.default_rng(seed).uniform(size=len(panel)) < 0.15
    for col in ("y_tobit", "y_probit"):
        panel[f"{col}_gap"] = panel[col].mask(gone)
    return panel, graphs, int(gone.sum())


def _spec(estimator: str, outcome: str, **kw) -> dict:
    return {"id": estimator, "estimator": estimator, "weights": ["c0"], "outcome": outcome,
            "regressors": ["x1", "x2"], "effects": "time", "mcmc": MCMC, **kw}


def _summary(res) -> pd.DataFrame:
    coef = res.estimate.coefficients().set_index("term")
    coef["mcse"] = pd.Series({k: v["mcse"] for k, v in res.fit["mcmc"]["diagnostics"].items()})
    return coef.loc[TERMS]


@pytest.mark.parametrize("estimator, outcome", [("sar_tobit", "y_tobit"), ("sar_probit", "y_probit")])
def test_imputed_posterior_is_consistent_with_the_full_data_posterior(estimator, outcome):
    """Outcomes missing completely at random: the posterior with them imputed is the full-data posterior with less
    information. For nested information sets the difference of the two posterior means has variance about
    ``sd_gap^2 - sd_full^2`` (as in a Hausman test), so each mean may move by at most 4 of that sd (plus both
    Monte Carlo s.e.); the posterior may not get narrower, nor wider than the observed rows alone allow."""
    panel, graphs, n_gone = _data()
    full = fit_model(_spec(estimator, outcome), panel, graphs)
    gap = fit_model(_spec(estimator, f"{outcome}_gap", missing="impute"), panel, graphs)
    assert gap.fit["n_obs"] == full.fit["n_obs"] == len(panel)  # every state-year stays, W as the source has it
    assert gap.fit["mcmc"]["imputed_rows"] == n_gone and full.fit["mcmc"]["imputed_rows"] == 0
    assert gap.fit["w_missing"]["channels"]["c0"]["rows_changed"] == 0
    assert any(f"{n_gone} of {len(panel)} rows with a missing outcome kept" in n for n in gap.fit["notes"])
    a, b = _summary(full), _summary(gap)
    spread = np.sqrt(np.maximum(b["std_error"] ** 2 - a["std_error"] ** 2, 0) + a["mcse"] ** 2 + b["mcse"] ** 2)
    z = (b["estimate"] - a["estimate"]) / spread
    assert (z.abs() < 4).all(), pd.DataFrame({"full": a["estimate"], "imputed": b["estimate"], "z": z})
    # and no less informative than the observed share of the rows alone (sd_full / sqrt(1 - share); 15% for the
    # Monte Carlo error of the sds): imputing the gaps as censored values widens the posterior by ~50% here
    assert (b["std_error"] > 0.95 * a["std_error"]).all(), (a["std_error"], b["std_error"])
    widest = 1.15 * a["std_error"] / np.sqrt(1 - n_gone / len(panel))
    assert (b["std_error"] < widest).all(), pd.DataFrame({"imputed": b["std_error"], "bound": widest})


def test_listwise_is_the_default_and_missing_regressors_are_dropped_and_counted():
    panel, graphs, n_gone = _data()
    short = {"draws": 50, "burn_in": 10, "chains": 2}
    listwise = fit_model(_spec("sar_tobit", "y_tobit_gap", mcmc=short), panel, graphs)
    assert listwise.fit["n_obs"] == len(panel) - n_gone and listwise.fit["mcmc"]["imputed_rows"] == 0
    assert listwise.fit["w_missing"]["channels"]["c0"]["rows_changed"] > 0  # neighbours lost from W
    panel.loc[panel.index[:5], "x1"] = np.nan
    lost = int(panel["x1"].isna().sum())
    res = fit_model(_spec("sar_tobit", "y_tobit_gap", mcmc=short, missing="impute"), panel, graphs)
    assert res.fit["n_obs"] == len(panel) - lost
    assert res.fit["mcmc"]["imputed_rows"] == int(panel["y_tobit_gap"].isna()[panel["x1"].notna()].sum())
    assert any(f"{lost} of {len(panel)} rows dropped (missing regressor)" in n for n in res.fit["notes"])


def test_impute_is_refused_outside_the_bayesian_estimators():
    panel, graphs, _ = _data()
    spec = {"id": "m", "estimator": "sar_ml", "weights": ["c0"], "outcome": "y", "regressors": ["x1", "x2"],
            "missing": "impute"}
    with pytest.raises(InputError, match="'missing: impute' applies to sar_tobit / sar_probit only"):
        fit_model(spec, panel, graphs)
    with pytest.raises(InputError, match="unknown missing 'mean'"):
        fit_model(_spec("sar_tobit", "y_tobit", missing="mean"), panel, graphs)


def test_a_unit_never_observed_has_no_identified_effect_and_is_removed():
    panel, graphs, _ = _data()
    ghost = panel["ccode"].unique()[0]
    panel.loc[panel["ccode"] == ghost, "y_tobit_gap"] = np.nan
    spec = _spec("sar_tobit", "y_tobit_gap", mcmc={"draws": 50, "burn_in": 10, "chains": 2}, missing="impute",
                 effects="twoway")
    res = fit_model(spec, panel, graphs)
    assert ghost not in set(res.sample["ccode"])
    assert any("censored at 0 or missing in every year removed" in n and str(int(ghost)) in n
               for n in res.fit["notes"])
