"""Tables, codebook and provenance: the pieces that turn model files into what a paper shows."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from interdep.io import sha256
from interdep.outputs import tables as tbl
from interdep.outputs.provenance import provenance
from interdep.panel.codebook import render_codebook


def coefs(terms, estimates, ses, ps):
    df = pd.DataFrame({"term": terms, "estimate": estimates, "std_error": ses, "p_value": ps})
    df["statistic"] = df["estimate"] / df["std_error"]
    df["conf_low"] = df["estimate"] - 1.96 * df["std_error"]
    df["conf_high"] = df["estimate"] + 1.96 * df["std_error"]
    return df


def fit(model_id, **extra):
    base = {"model_id": model_id, "estimator": "sar_ml", "weights": ["contiguity"], "effects": "twoway",
            "n_units": 10, "years": [1990, 2000], "n_obs": 110, "log_likelihood": -12.3456, "aic": 30.69,
            "converged": True}
    return base | extra


@pytest.fixture
def models():
    return {
        "ols": (fit("ols", estimator="ols", log_likelihood=None, aic=None),
                coefs(["const", "x"], [1.0, 0.5], [0.1, 0.2], [0.0, 0.012])),
        "sar": (fit("sar", converged=False), coefs(["x", "rho_contiguity"], [0.4, 0.3], [0.1, 0.05], [0.2, 1e-6])),
    }


@pytest.mark.parametrize(("p", "mark"), [(0.001, "***"), (0.01, "**"), (0.049, "**"), (0.05, "*"), (0.099, "*"),
                                         (0.1, ""), (np.nan, "")])
def test_stars(p, mark):
    assert tbl.stars(p) == mark


def test_regression_table_layout(models):
    t = tbl.regression_table(models, ["ols", "sar"], {"x": "Income"})
    first = list(t.iloc[:, 0])
    assert first[:6] == ["Income", "", "ρ (contiguity)", "", "Constant", ""]
    assert t.loc[0, "ols"] == "0.500**" and t.loc[1, "ols"] == "(0.200)"
    assert t.loc[2, "ols"] == "" and t.loc[2, "sar"] == "0.300***"
    facts = t.set_index("")
    assert facts.loc["Converged", "sar"] == "NO"  # a model that did not converge is marked, never silent
    assert facts.loc["Log-likelihood", "ols"] == "" and facts.loc["Log-likelihood", "sar"] == "-12.35"
    assert t.attrs["n_coefficient_rows"] == 6


def test_latex_is_booktabs_and_escaped(models):
    t = tbl.regression_table(models, ["ols", "sar"], {})
    tex = tbl.to_latex(t, "note_with_underscore", midrule_after=t.attrs["n_coefficient_rows"])
    assert tex.count(r"\midrule") == 2 and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"$\rho$ (contiguity)" in tex and r"note\_with\_underscore" in tex
    assert "_" not in tex.replace(r"\_", "")


def test_truth_table_marks_coverage():
    c = coefs(["x", "rho_contiguity"], [0.5, 0.1], [0.01, 0.01], [0, 0])
    t = tbl.truth_table({"beta_x": 0.5, "rho_contiguity": 0.3}, c)
    assert list(t["covered"]) == [True, False]


def test_codebook_round_trip_and_completeness():
    panel = pd.DataFrame({"ccode": [2, 2], "year": [2000, 2001], "x": [1.0, np.nan]})
    book = pd.DataFrame({"column": ["ccode", "year", "x"], "label": ["COW code", "Year", "Income | per head"],
                         "unit": ["code", "year", "USD"], "source": ["a", "b", "c"], "transformation": ["-"] * 3})
    text = render_codebook(book, panel, "t")
    assert "| `x` |" in text and text.rstrip().endswith("| 1 |")  # one missing value counted
    with pytest.raises(ValueError, match="without a codebook entry"):
        render_codebook(book[book["column"] != "x"], panel, "t")


def test_labels_are_read_back_from_the_codebook(tmp_path):
    panel = pd.DataFrame({"ccode": [2], "year": [2000], "log_gdppc": [1.0]})
    book = pd.DataFrame({"column": ["ccode", "year", "log_gdppc"], "label": ["COW code", "Year", "log GDP per capita"],
                         "unit": ["", "", ""], "source": ["", "", ""], "transformation": ["", "", ""]})
    path = tmp_path / "codebook.md"
    path.write_text(render_codebook(book, panel, "t"))
    assert tbl.read_labels(path)["log_gdppc"] == "log GDP per capita"
    assert tbl.term_label("W_contiguity_log_gdppc", tbl.read_labels(path)) == "W·log GDP per capita (contiguity)"


def test_provenance_hashes_inputs_and_has_no_clock(tmp_path, repo, monkeypatch):
    monkeypatch.chdir(repo)
    f = tmp_path / "in.csv"
    f.write_text("a\n1\n")
    record = provenance(input_files=[str(f)], config={"dataset": "x"}, seed=7, lock_file=repo / "requirements.lock")
    assert record["inputs"][str(f)] == hashlib.sha256(b"a\n1\n").hexdigest() == sha256(f)
    assert record["seeds"]["config.seed (impacts draws, Moran permutations)"] == 7
    assert record["packages"]["spreg"] != "not installed"
    # no clock in it: the same inputs give the same record
    assert record == provenance(input_files=[str(f)], config={"dataset": "x"}, seed=7,
                                lock_file=repo / "requirements.lock")
