"""Tables, codebook and provenance: the pieces that turn model files into what a paper shows."""

from __future__ import annotations

import hashlib
import json

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
            "converged": True, "outcome": "y"}
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
    t = tbl.regression_table(models, ["ols", "sar"], {"x": "Income", "y": "log contributions"},
                             {"ols": "Baseline"})
    first = list(t.iloc[:, 0])
    assert first[:7] == ["Outcome", "Income", "", "ρ (contiguity)", "", "Constant", ""]
    assert t.attrs["header"] == [["", "(1)", "(2)"], ["", "Baseline", "sar"]]  # numbered, labelled from the config
    assert t.attrs["spans"] == {0: "log contributions"}  # one outcome: said once across the columns
    assert t.loc[1, "ols"] == "0.500**" and t.loc[2, "ols"] == "(0.200)"
    assert t.loc[3, "ols"] == "" and t.loc[3, "sar"] == "0.300***"
    facts = t.set_index("")
    assert facts.loc["Estimator", "ols"] == "OLS" and facts.loc["Estimator", "sar"] == "SAR, ML"
    assert facts.loc["Converged", "sar"] == "NO"  # a model that did not converge is marked, never silent
    assert facts.loc["Log-likelihood", "ols"] == "" and facts.loc["Log-likelihood", "sar"] == "-12.35"
    assert t.attrs["rules_after"] == [1, 7] and t.attrs["n_coefficient_rows"] == 6
    assert "* p < 0.1, ** p < 0.05, *** p < 0.01" in t.attrs["note"]
    assert "robust" not in t.attrs["note"]


def test_regression_table_puts_every_spatial_parameter_after_the_regressors(models):
    """A sar_conv and an sdm_conv side by side: the SDM's W-lags with the regressors, then the convex rho, all
    gammas (the second model's new channel too) and the channels' rho's."""
    conv = (fit("conv", estimator="sar_conv", mcmc={}), coefs(["x", "rho", "gamma_a", "gamma_b"], [0.4, 0.3, 0.6, 0.4],
                                                              [0.1] * 4, [0.0] * 4))
    sdm = (fit("sdm", estimator="sdm_conv", mcmc={}), coefs(["x", "W_x", "rho", "gamma_a", "gamma_c"],
                                                            [0.4, 0.2, 0.3, 0.7, 0.3], [0.1] * 5, [0.0] * 5))
    t = tbl.regression_table({**models, "conv": conv, "sdm": sdm}, ["sar", "conv", "sdm"], {"x": "Income"})
    names = [n for n in t.iloc[:, 0] if n][:8]
    assert names == ["Outcome", "Income", "W·Income (convex W)", "ρ (convex W)", "γ (a)", "γ (b)", "γ (c)",
                     "ρ (contiguity)"]


def test_regression_table_names_different_outcomes_and_flags_robust_errors(models):
    models["gmm"] = (fit("gmm", estimator="sar_gmm", outcome="troops", log_likelihood=None, aic=None),
                     models["sar"][1])
    t = tbl.regression_table(models, ["ols", "sar", "gmm"], {"y": "log contributions", "troops": "UN troops"})
    assert list(t.iloc[0, 1:]) == ["log contributions", "log contributions", "UN troops"]
    assert t.attrs["spans"] == {}
    assert "(3): heteroskedasticity-robust (White) standard errors" in t.attrs["note"]
    assert t.set_index("").loc["Estimator", "gmm"] == "SAR, S2SLS"


def test_regression_table_flags_robust_ml_errors(models):
    models["sar"] = (fit("sar", se="robust"), models["sar"][1])
    t = tbl.regression_table(models, ["ols", "sar"], {})
    assert "(2): heteroskedasticity-robust (QML sandwich) standard errors" in t.attrs["note"]
    assert "(1)" not in t.attrs["note"]


def test_latex_is_a_complete_table_and_escaped(models):
    t = tbl.regression_table(models, ["ols", "sar"], {})
    tex = tbl.to_latex(t, "note_with_underscore", caption="A & B", label="tab:x", header=t.attrs["header"],
                       rules_after=t.attrs["rules_after"])
    assert tex.count(r"\midrule") == 3 and r"\toprule" in tex and r"\bottomrule" in tex
    for piece in (r"\begin{table}", r"\caption{A \& B}", r"\label{tab:x}", r"\begin{threeparttable}",
                  r"\begin{adjustbox}{max width=\linewidth}",
                  r"\begin{tablenotes}", r"\item note\_with\_underscore", r"\end{table}", "(1) & (2)"):
        assert piece in tex, piece
    assert r"$\rho$ (contiguity)" in tex
    assert "_" not in tex.replace(r"\_", "").replace("tab:x", "")


@pytest.mark.parametrize(("term", "label"), [
    ("rho_contiguity_sea", "ρ (contiguity_sea)"),
    ("W_contiguity_sea_polyarchy", "W·Democracy (contiguity_sea)"),
    ("log_contrib_lag1", "log contributions, t-1"),
    ("W_contiguity_log_contrib_lag1", "W·log contributions, t-1 (contiguity)"),
    ("rho", "ρ (convex W)"),
    ("gamma_contiguity_sea", "γ (contiguity_sea)"),
    ("W_polyarchy", "W·Democracy (convex W)"),
    ("unknown_term", "unknown_term"),
])
def test_term_labels_use_the_codebook(term, label):
    assert tbl.term_label(term, {"polyarchy": "Democracy", "log_contrib": "log contributions"}) == label


@pytest.mark.parametrize(("p", "text"), [(0.0004, "< 0.001"), (0.001, "0.001"), (0.0499, "0.050"), (np.nan, "")])
def test_p_values_below_one_in_a_thousand_are_shown_as_such(p, text):
    assert tbl.format_p(p) == text


def test_descriptive_numbers_share_decimals_within_a_row():
    numbers = pd.DataFrame({"label": ["Population"], "unit": ["persons"], "n": [3320], "mean": [36703413.3],
                            "sd": [114897444.5], "min": [232145.1], "max": [1379302771.0]})
    row = tbl.descriptives_display(numbers).iloc[0]
    assert list(row) == ["Population", "persons", "3,320", "36,703,413", "114,897,444", "232,145", "1,379,302,771"]
    small = numbers.assign(mean=9.04, sd=1.26, min=6.06, max=11.88)
    assert list(tbl.descriptives_display(small).iloc[0])[3:] == ["9.0", "1.3", "6.1", "11.9"]


def test_impacts_one_table_per_model_with_spillovers():
    rows = []
    for model, indirect in (("ols", 0.0), ("sar", 0.2)):
        for effect, value in (("direct", 0.5), ("indirect", indirect), ("total", 0.5 + indirect)):
            rows.append((model, "x", "Income", "all" if model == "sar" else "none", effect, value, 0.1,
                         value - 0.2, value + 0.2))
    numbers = pd.DataFrame(rows, columns=["model_id", "term", "label", "channel", "effect", "estimate", "std_error",
                                          "conf_low", "conf_high"])
    parts = tbl.impacts_parts(numbers, {"sar": "SAR contiguity"})
    assert len(parts) == 1 and parts[0][0].startswith("Impacts: SAR contiguity")  # no table for OLS
    display = parts[0][1]
    assert list(display.columns) == ["", "Direct", "Indirect", "Total"]
    assert list(display.iloc[0]) == ["Income", "0.500", "0.200", "0.700"]
    assert list(display.iloc[1]) == ["", "[0.300, 0.700]", "[0.000, 0.400]", "[0.500, 0.900]"]
    long_run = numbers[numbers["model_id"] == "sar"].assign(effect=lambda d: "long_run_" + d["effect"])
    dynamic = tbl.impacts_display(pd.concat([long_run, numbers[numbers["model_id"] == "sar"]]))  # long-run first
    assert list(dynamic.columns) == ["", "Direct", "Indirect", "Total", "Long-run direct", "Long-run indirect",
                                     "Long-run total"]


def test_impacts_of_several_channels_keep_the_joint_indirect_impact_apart():
    """channel 'all' (the whole system) and one column per channel's indirect impact: the per-channel rows must not
    overwrite the joint one (they did where a model labelled its joint rows otherwise, e.g. 'a+b')."""
    rows = [("m", "x", "Income", ch, eff, v, 0.1, v - 0.2, v + 0.2)
            for ch, eff, v in (("all", "direct", 0.5), ("all", "indirect", 0.3), ("all", "total", 0.8),
                               ("a", "indirect", 0.2), ("b", "indirect", 0.1))]
    numbers = pd.DataFrame(rows, columns=["model_id", "term", "label", "channel", "effect", "estimate", "std_error",
                                          "conf_low", "conf_high"])
    display = tbl.impacts_display(numbers)
    assert list(display.columns) == ["", "Direct", "Indirect via a", "Indirect via b", "Indirect, all", "Total"]
    assert list(display.iloc[0]) == ["Income", "0.500", "0.200", "0.100", "0.300", "0.800"]


def test_sample_descriptives_use_each_estimation_sample():
    panel = pd.DataFrame({"ccode": [2, 2, 20, 20], "year": [2000, 2001, 2000, 2001], "y": [1.0, 3.0, 5.0, 100.0],
                          "x": [0.0, 1.0, 2.0, 3.0]})
    fits = {"a": {"outcome": "y", "regressors": ["x"]}, "b": {"outcome": "y", "regressors": ["x"]},
            "c": {"outcome": "y", "regressors": ["x"]}}
    keys = panel[["ccode", "year"]]
    samples = {"a": keys.iloc[:3], "b": keys.iloc[:3], "c": keys.iloc[[3]]}
    book = {"y": {"label": "Outcome", "unit": "persons"}, "x": {"label": "X", "unit": "1"}}
    out = tbl.sample_descriptives(panel, samples, fits, book, {"a": "A"})
    first = out[(out["sample"] == 1) & (out["column"] == "y")].iloc[0]
    assert first["models"] == "A; b" and first["n"] == 3 and first["mean"] == 3.0 and first["unit"] == "persons"
    assert out[(out["sample"] == 2) & (out["column"] == "y")]["mean"].item() == 100.0


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
    f = tmp_path / "sub" / "in.csv"
    f.parent.mkdir()
    f.write_text("a\n1\n")
    args = {"input_files": [str(f)], "config": {"dataset": "x", "raw_dir": str(tmp_path), "panel": {"source": "ipi"}},
            "seed": 7, "lock_file": repo / "requirements.lock", "raw_dir": tmp_path}
    record = provenance(**args)
    # keyed relative to raw_dir; no absolute local path anywhere in the record
    assert record["inputs"]["sub/in.csv"] == hashlib.sha256(b"a\n1\n").hexdigest() == sha256(f)
    assert '"/' not in json.dumps(record)  # no string starts with "/"
    assert record["lock_file"]["path"] == "requirements.lock"
    # the run's own seeds: the demo generator's seed only for a demo panel
    assert record["seeds"] == {"config.seed (impacts draws, Moran permutations)": 7}
    demo = provenance(**(args | {"config": {"dataset": "demo", "panel": {"source": "demo"}}}))
    assert "demo generator (interdep.panel.demo.SEED)" in demo["seeds"]
    assert record["packages"]["spreg"] != "not installed"
    assert record == provenance(**args)  # no clock in it: the same inputs give the same record


def test_latex_tables_compile(models, pdflatex, tmp_path):
    """Every kind of table, with the labels' special characters, compiles in a standard TeX (booktabs,
    threeparttable)."""
    import subprocess

    labels = {"x": "Income per head (US$, 2011 int'l) & more_stuff", "y": "log of 1 + contributions ≥ 0"}
    models["gmm"] = (fit("gmm", estimator="sar_gmm", outcome="y"), models["sar"][1])
    t = tbl.regression_table(models, ["ols", "sar", "gmm"], labels, {"ols": "OLS #1", "sar": "SAR, 50%"})
    tex = [tbl.to_latex(t, t.attrs["note"], caption="Regression table main: log contributions", label="tab:main",
                        header=t.attrs["header"], rules_after=t.attrs["rules_after"])]
    numbers = pd.DataFrame([("sar", "x", "Income", "all", e, v, 0.1, v - 0.2, v + 0.2)
                            for e, v in (("direct", 0.5), ("indirect", 0.2), ("total", 0.7))],
                           columns=["model_id", "term", "label", "channel", "effect", "estimate", "std_error",
                                    "conf_low", "conf_high"])
    for caption, display, note in tbl.impacts_parts(numbers, {"sar": "SAR ρ_contiguity"}):
        tex.append(tbl.to_latex(display, note, caption=caption, label="tab:impacts"))
    desc = pd.DataFrame({"label": ["Population – total"], "unit": ["persons"], "n": [10], "mean": [1e6], "sd": [2e5],
                         "min": [1.0], "max": [3e7]})
    tex.append(tbl.to_latex(tbl.descriptives_display(desc), "Means ~ over years.", caption="Descriptives"))
    document = (f"\\documentclass{{article}}\n\\usepackage[T1]{{fontenc}}\n{tbl.LATEX_PACKAGES}\n"
                "\\begin{document}\n" + "\n".join(tex) + "\\end{document}\n")
    (tmp_path / "tables.tex").write_text(document)
    result = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "tables.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 1000
    assert "Warning: Undefined" not in result.stdout


def _captured(monkeypatch):
    """Run a figure function with ``save`` replaced by a capture of the figure."""
    from interdep.outputs import figures

    captured = []
    monkeypatch.setattr(figures, "save", lambda fig, _path: captured.append(fig))
    return figures, captured


def test_coefficient_plot_draws_every_model_distinctly(monkeypatch):
    figures, captured = _captured(monkeypatch)
    n = 13  # more than the 8 colours of the palette
    coefficients = {f"m{k}": coefs(["x", "rho_c"], [k, -k], [0.1, 0.1], [0.5, 0.5]) for k in range(n)}
    figures.coefficient_plot(coefficients, "unused.png", {"x": "Income"}, {"m0": "First"})
    axes = [ax for ax in captured[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["Income", "ρ (c)"]
    for ax in axes:
        assert len(ax.containers) == n  # one error bar per model, none dropped
        drawn = sorted(float(c.lines[0].get_xdata()[0]) for c in ax.containers)
        assert drawn == sorted(float(v) for k in range(n) for v in ([k] if ax.get_title() == "Income" else [-k]))
        looks = {(c.lines[0].get_color(), c.lines[0].get_marker()) for c in ax.containers}
        assert len(looks) == n
    assert axes[0].get_yticklabels()[0].get_text() == "First"


def test_links_across_the_dateline_go_the_short_way():
    from interdep.outputs.figures import dateline_segments

    # Suva (Fiji) to Apia (Samoa), Nuku'alofa (Tonga) to Suva, and Paris to Berlin (no wrap)
    segments = dateline_segments([178.44, -175.2, 2.35], [-18.14, -21.14, 48.86], [-171.76, 178.44, 13.4],
                                 [-13.83, -18.14, 52.52])
    assert segments.shape == (5, 2, 2)  # two wrapping links drawn twice, one on each side of the map
    spans = np.abs(segments[:, 1, 0] - segments[:, 0, 0])
    assert spans.max() < 15  # no line across the whole world
    assert np.allclose(segments[2], [[2.35, 48.86], [13.4, 52.52]])


def test_moran_scatter_line_runs_through_the_points(monkeypatch):
    """The fitted line has its intercept: with a lag whose mean is far from 0 it still passes through the mean."""
    from libpysal.graph import Graph

    figures, captured = _captured(monkeypatch)
    ids = list(range(1, 9))
    rng = np.random.default_rng(3)
    focal = [i for i in ids for j in ids if i != j and abs(i - j) <= 2]
    neighbor = [j for i in ids for j in ids if i != j and abs(i - j) <= 2]
    graph = Graph.from_arrays(focal, neighbor, np.full(len(focal), 5.0))  # not row-standardised: lag mean far off 0
    panel = pd.DataFrame({"ccode": ids, "year": 2000, "y": rng.normal(size=8)})
    figures.moran_scatter(panel, graph, "y", 2000, "c", "unused.png", moran_i=0.1)
    ax = captured[0].axes[0]
    points = ax.collections[0].get_offsets()
    line = ax.lines[0]
    x, y = line.get_xdata(), line.get_ydata()
    at_mean = y[0] + (y[1] - y[0]) * (points[:, 0].mean() - x[0]) / (x[1] - x[0])
    assert at_mean == pytest.approx(points[:, 1].mean())
    assert "Moran's I = 0.100" in ax.get_title()


def test_years_are_those_of_the_estimation_sample(tmp_path, models):
    """A dynamic model asks for 1990-2000 but loses its first year to the lag: the table says what was used."""
    folder = tmp_path / "dyn"
    folder.mkdir()
    (folder / "fit.json").write_text(json.dumps(fit("dyn")))
    models["sar"][1].to_csv(folder / "coefficients.csv", index=False)
    pd.DataFrame({"ccode": [2, 2], "year": [1991, 2000]}).to_csv(folder / "sample.csv", index=False)
    loaded = tbl.load_models([folder])
    t = tbl.regression_table(loaded, ["dyn"], {})
    assert t.set_index("").loc["Years", "dyn"] == "1991–2000"


def test_impacts_figure_leaves_out_a_fit_whose_point_impacts_lie_outside_their_intervals(tmp_path):
    """A fit at the edge of rho's interval (point impacts far outside the simulated intervals, as the UN IGO model
    with two-way effects gives) is named in a note, not drawn with negative error bars (matplotlib refuses them)."""
    from interdep.outputs.figures import impacts_plot

    rows = []
    for model, scale in (("ok", 1.0), ("edge", 1e5)):
        for effect in ("direct", "indirect", "total"):
            rows.append({"model_id": model, "term": "x", "label": "x", "channel": "c", "effect": effect,
                         "estimate": 0.5 * scale, "std_error": 0.1, "conf_low": 0.3, "conf_high": 0.7})
    impacts_plot(pd.DataFrame(rows), tmp_path / "impacts.png", {"edge": "Edge model"})
    assert (tmp_path / "impacts.png").stat().st_size > 0


def test_bma_warns_where_an_absorbed_channel_carries_the_average():
    """The averaged table gets a notice when a channel whose W y the effects nearly absorb (sd ratio < 0.1) is more
    likely in than out of a model type's average, and none otherwise."""
    from interdep.outputs.report import _absorbed_channel_warning

    choice = pd.DataFrame({"channels": ["contiguity", "igo", "contiguity+igo"], "wy_sd_ratio": [0.67, 0.063, None]})
    bma = pd.DataFrame({"model_type": ["sar", "sar", "sdm", "sdm"], "quantity": ["inclusion"] * 4,
                        "channel": ["contiguity", "igo", "contiguity", "igo"], "estimate": [1.0, 0.93, 1.0, 0.2]})
    note = _absorbed_channel_warning(choice, bma)
    assert "igo in the SAR average (inclusion 0.93)" in note and "SDM" not in note
    assert _absorbed_channel_warning(choice, bma.assign(estimate=[1.0, 0.4, 1.0, 0.2])) == ""
