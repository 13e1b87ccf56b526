"""The report's headline on censoring: the linear SAR beside the Tobit on the same censored outcome."""

from __future__ import annotations

import pandas as pd

from interdep.outputs.report import Report, headline_censoring


def _fit(model_id: str, estimator: str, outcome: str, effects: str = "twoway") -> dict:
    return {"model_id": model_id, "estimator": estimator, "outcome": outcome, "weights": ["contiguity"],
            "effects": effects, "years": [1995, 2014]}


def _report(tmp_path, dataset: str, fits: list[dict]) -> Report:
    rows = [("tobit", 0.31, 0.25, 0.37), ("linear", 0.22, 0.18, 0.26), ("latent", 0.30, 0.26, 0.34),
            ("linear_unit", 0.5, 0.4, 0.6)]
    pd.DataFrame([{"model_id": m, "term": "rho_contiguity", "estimate": e, "conf_low": lo, "conf_high": hi}
                  for m, e, lo, hi in rows]).to_csv(tmp_path / "regression_censored.csv", index=False)
    return Report(dataset=dataset, table_names=["censored"], figure_names=[], tables_dir=tmp_path,
                  figures_dir=tmp_path, fits=fits, provenance={})


def test_linear_and_tobit_on_the_same_censored_outcome_are_compared(tmp_path):
    fits = [_fit("tobit", "sar_tobit", "y_cens"), _fit("linear", "sar_ml", "y_cens"),
            _fit("latent", "sar_ml", "y"), _fit("linear_unit", "sar_ml", "y_cens", effects="unit")]
    text = headline_censoring(_report(tmp_path, "demo", fits))
    assert text.count("off by") == 1  # the unit-effects model is not the same model
    assert text.count("<tr>") == 1 + 1  # header and the one common term
    assert "0.220 [0.180, 0.260]" in text and "0.310 [0.250, 0.370]" in text and "off by -0.090" in text
    assert "uncensored index y (latent), which the Tobit should reproduce, gives 0.300 [0.260, 0.340]" in text
    real = headline_censoring(_report(tmp_path, "ipi", fits))
    assert "off by -0.090" in real  # no known latent index outside the demo:
    assert "uncensored index" not in real and "linear, uncensored" not in real


def test_nothing_to_say_without_a_tobit_or_its_linear_twin(tmp_path):
    assert headline_censoring(_report(tmp_path, "demo", [_fit("linear", "sar_ml", "y_cens")])) == ""
    assert headline_censoring(_report(tmp_path, "demo", [_fit("tobit", "sar_tobit", "y_cens")])) == ""
