"""Publication tables from the models' contract files: regression tables with models side by side, impacts (one
compact table per model), descriptive statistics of each estimation sample, a weights summary per channel, spatial
diagnostics, and (demo) estimates beside the true values.

Every table is built once as a frame of display strings and rendered to Markdown, LaTeX (a complete ``table``
environment with booktabs and threeparttable) and HTML; the numbers behind it go to CSV, unrounded. Published
output names things by their codebook labels and the models by their ``label:`` from the config.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from interdep.io import read_table

STARS = ((0.01, "***"), (0.05, "**"), (0.1, "*"))
STAR_LEGEND = "* p < 0.1, ** p < 0.05, *** p < 0.01"
EFFECT_LABELS = {"none": "none", "unit": "state", "time": "year", "twoway": "state + year",
                 "random": "random state", "random_time": "year + random state"}
# estimator key -> its name in words; estimators not listed are shown by their key
ESTIMATOR_NAMES = {"ols": "OLS", "slx": "SLX, OLS", "sar_ml": "SAR, ML", "sdm_ml": "SDM, ML", "sem_ml": "SEM, ML",
                   "sar_gmm": "SAR, S2SLS", "sac": "SAC, GMM", "sac_ml": "SAC, ML", "sar_tobit": "SAR Tobit, Bayes",
                   "sar_probit": "SAR probit, Bayes", "sar_conv": "SAR convex W, Bayes",
                   "sdm_conv": "SDM convex W, Bayes"}
# estimator key (or fit.json's se) -> what its standard errors are, when not the classic (information-matrix / OLS)
SE_KINDS = {"sar_gmm": "heteroskedasticity-robust (White) standard errors",
            "sac": "heteroskedasticity-robust GMM standard errors",
            "robust": "heteroskedasticity-robust (QML sandwich) standard errors"}  # sar_ml / sdm_ml with se: robust
LATEX_PACKAGES = r"\usepackage{booktabs,threeparttable,adjustbox}"

# ----------------------------------------------------------------------------------------------- inputs


def read_codebook(codebook_md: str | Path) -> dict[str, dict[str, str]]:
    """Column -> {label, unit} from a codebook.md written by :func:`interdep.panel.codebook.render_codebook`."""
    out = {}
    for line in Path(codebook_md).read_text().splitlines():
        match = re.match(r"\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|", line)
        if match:
            out[match.group(1)] = {"label": match.group(2), "unit": match.group(3)}
    return out


def read_labels(codebook_md: str | Path) -> dict[str, str]:
    """Column -> label from a codebook.md written by :func:`interdep.panel.codebook.render_codebook`."""
    return {column: entry["label"] for column, entry in read_codebook(codebook_md).items()}


def term_label(term: str, labels: Mapping[str, str]) -> str:
    """Readable name of a coefficient term: codebook label; spatial parameters, W-lags and time lags spelled out.

    ``rho_<channel>`` -> "ρ (channel)", ``lambda_<channel>`` -> "λ (channel)", ``W_<channel>_<x>`` -> "W·<label of
    x> (channel)", ``<x>_lag<k>`` -> "<label of x>, t-k"; of the convex-combination models (sar_conv, sdm_conv),
    ``rho`` -> "ρ (convex W)", ``W_<x>`` -> "W·<label of x> (convex W)" and ``gamma_<channel>`` -> "γ (channel)", the
    channel's share. Channel names may contain underscores.
    """
    if term == "const":
        return "Constant"
    if term in labels:
        return labels[term]
    if term == "rho":
        return "ρ (convex W)"
    for prefix, symbol in (("rho_", "ρ"), ("lambda_", "λ"), ("gamma_", "γ")):
        if term.startswith(prefix):
            return f"{symbol} ({term[len(prefix):]})"
    lag = re.match(r"(.+)_lag(\d+)$", term)
    if lag and _resolves(lag.group(1), labels):
        return f"{term_label(lag.group(1), labels)}, t-{lag.group(2)}"
    if term.startswith("W_") and _resolves(term[2:], labels):  # sdm_conv: the lag W(gamma) x of the convex W
        return f"W·{term_label(term[2:], labels)} (convex W)"
    if term.startswith("W_"):
        parts = term[2:].split("_")
        for cut in range(1, len(parts)):
            channel, rest = "_".join(parts[:cut]), "_".join(parts[cut:])
            if _resolves(rest, labels):
                return f"W·{term_label(rest, labels)} ({channel})"
    return term


def _resolves(term: str, labels: Mapping[str, str]) -> bool:
    return term in labels or bool(re.match(r"(.+)_lag\d+$", term) and _resolves(term.rsplit("_lag", 1)[0], labels))


def load_models(model_dirs: Sequence[str | Path]) -> dict[str, tuple[dict, pd.DataFrame]]:
    """model_id -> (fit.json, coefficients.csv) for each models/<id>/ folder; ``fit["sample_years"]`` = first and
    last year of sample.csv where it exists."""
    out = {}
    for folder in map(Path, model_dirs):
        fit = json.loads((folder / "fit.json").read_text())
        if (folder / "sample.csv").is_file():  # the years actually used (a dynamic model loses its first year)
            years = read_table(folder / "sample.csv")["year"]
            fit["sample_years"] = [int(years.min()), int(years.max())] if len(years) else fit["years"]
        out[fit["model_id"]] = (fit, read_table(folder / "coefficients.csv"))
    return out


def estimator_name(fit: Mapping) -> str:
    """The estimator in words ("SAR, ML"); an estimator without an entry in ``ESTIMATOR_NAMES`` by its key."""
    return ESTIMATOR_NAMES.get(fit["estimator"], fit["estimator"])


# ----------------------------------------------------------------------------------------------- formats


def stars(p: float) -> str:
    """Significance marks: *** p < 0.01, ** p < 0.05, * p < 0.1."""
    if p is None or not np.isfinite(p):
        return ""
    return next((mark for level, mark in STARS if p < level), "")


def format_p(p: float | None) -> str:
    """A p-value for print: three decimals, "< 0.001" below that."""
    if p is None or not np.isfinite(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def format_number(x: float | None, scale: float | None = None) -> str:
    """A statistic for print, thousands separated, decimals by the size of ``scale`` (default ``x``): 0 from
    1,000, 1 from 10, else 3 (12,345 / 123.4 / 1.234). Give a row's largest value as ``scale`` so that a row's
    numbers share their decimals."""
    if x is None or not np.isfinite(x):
        return ""
    size = abs(x if scale is None else scale)
    decimals = 0 if size >= 1000 else 1 if size >= 10 else 3
    return f"{x:,.{decimals}f}"


def _years(fit: Mapping) -> str:
    years = fit.get("sample_years") or fit["years"]
    return "–".join(str(y) for y in sorted({years[0], years[-1]}))


# ----------------------------------------------------------------------------------------------- tables


def column_header(order: Sequence[str], model_labels: Mapping[str, str] | None = None) -> list[list[str]]:
    """Two header lines of a table with models side by side: (1)…(k), then each model's label."""
    model_labels = model_labels or {}
    return [["", *[f"({k})" for k in range(1, len(order) + 1)]], ["", *[model_labels.get(m, m) for m in order]]]


def _spatial_rank(term: str) -> int | None:
    """Order of the spatial parameters in a regression table (None: not one)."""
    if term == "rho":
        return 0
    return next((k for k, prefix in enumerate(("gamma_", "rho_", "lambda_"), 1) if term.startswith(prefix)), None)


def regression_table(models: Mapping[str, tuple[dict, pd.DataFrame]], order: Sequence[str],
                     labels: Mapping[str, str], model_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Display frame: one column per model (named by model id), the outcome, estimate (with stars) over (standard
    error), then the model's facts and fit statistics.

    ``attrs``: ``header`` (the printed header lines: (1)…(k) and labels), ``rules_after`` (body rows followed by a
    rule), ``n_coefficient_rows``, ``note``.
    """
    terms: list[str] = []
    for model_id in order:
        for term in models[model_id][1]["term"]:
            if term not in terms:
                terms.append(term)
    # the spatial parameters after the regressors (and their W-lags): a convex W's rho and gammas, then the channels'
    spatial = sorted((t for t in terms if _spatial_rank(t) is not None), key=_spatial_rank)  # stable: first seen
    terms = [t for t in terms if t not in spatial and t != "const"] + spatial + (["const"] if "const" in terms else [])
    rows: list[tuple[str, list[str]]] = [("Outcome", [labels.get(models[m][0]["outcome"], models[m][0]["outcome"])
                                                      for m in order])]
    for term in terms:
        estimates, errors = [], []
        for model_id in order:
            coefs = models[model_id][1].set_index("term")
            if term in coefs.index:
                r = coefs.loc[term]
                bayes = "mcmc" in models[model_id][0]  # posterior summaries: no significance stars
                estimates.append(f"{r['estimate']:.3f}{'' if bayes else stars(r['p_value'])}")
                errors.append(f"({r['std_error']:.3f})")
            else:
                estimates.append("")
                errors.append("")
        rows += [(term_label(term, labels), estimates), ("", errors)]
    facts = {
        "Estimator": estimator_name,
        "Channels (W)": lambda f: ", ".join(f["weights"]) if f["estimator"] != "ols" else "",
        "Fixed effects": lambda f: EFFECT_LABELS.get(f["effects"], f["effects"]),
        "States": lambda f: str(f["n_units"]),
        "Years": _years,
        "N": lambda f: f"{f['n_obs']:,}",
        "Log-likelihood": lambda f: "" if f.get("log_likelihood") is None else f"{f['log_likelihood']:,.2f}",
        "AIC": lambda f: "" if f.get("aic") is None else f"{f['aic']:,.2f}",
        "Converged": lambda f: "yes" if f.get("converged", True) else "NO",
        "Reported": lambda f: "posterior mean (sd)" if "mcmc" in f else "estimate (s.e.)",
    }
    for name, get in facts.items():
        rows.append((name, [get(models[m][0]) for m in order]))
    frame = pd.DataFrame([values for _, values in rows], columns=list(order))
    frame.insert(0, "", [name for name, _ in rows])
    outcomes = set(rows[0][1])
    frame.attrs.update(header=column_header(order, model_labels), rules_after=[1, 1 + 2 * len(terms)],
                       n_coefficient_rows=2 * len(terms), note=regression_note(models, order, terms),
                       spans={0: rows[0][1][0]} if len(outcomes) == 1 and len(order) > 1 else {})
    return frame


def regression_note(models: Mapping[str, tuple[dict, pd.DataFrame]], order: Sequence[str],
                    terms: Sequence[str]) -> str:
    """The table's notes: standard errors (and which columns have robust ones), stars, symbols used."""
    kinds: dict[str, list[str]] = {}
    for k, model_id in enumerate(order, start=1):
        fit = models[model_id][0]
        kind = SE_KINDS.get("robust" if fit.get("se") == "robust" else fit["estimator"])
        if kind:
            kinds.setdefault(kind, []).append(f"({k})")
    parts = ["Standard errors in parentheses" + "".join(
        f"; {', '.join(cols)}: {kind}" for kind, cols in kinds.items()) + f". {STAR_LEGEND}."]
    if any(t.startswith("rho_") for t in terms):
        parts.append("ρ: spatial-lag parameter of the channel named.")
    if any(t.startswith("lambda_") for t in terms):
        parts.append("λ: spatial-error parameter.")
    if any(t.startswith("W_") for t in terms):
        parts.append("W·x: the spatial lag of x on the channel named.")
    if any(models[m][0]["effects"] not in ("none", "random") for m in order):
        parts.append("Fixed effects are absorbed (no constant shown).")
    if any(models[m][0]["effects"] in ("random", "random_time") for m in order):
        parts.append("Random state effects: ML (phi = sigma2_mu / sigma2 in fit.json).")
    return " ".join(parts)


def regression_numbers(models: Mapping[str, tuple[dict, pd.DataFrame]], order: Sequence[str]) -> pd.DataFrame:
    """The numbers behind a regression table, long format, unrounded (CSV)."""
    frames = [models[m][1].assign(model_id=m) for m in order]
    out = pd.concat(frames, ignore_index=True)
    return out[["model_id", *[c for c in out.columns if c != "model_id"]]]


def impacts_table(impacts: Mapping[str, pd.DataFrame], labels: Mapping[str, str]) -> pd.DataFrame:
    """Numbers of every model's direct, indirect and total impacts with intervals (long format)."""
    frames = [df.assign(model_id=m) for m, df in impacts.items() if len(df)]
    if not frames:
        return pd.DataFrame(columns=["model_id", "term", "label", "channel", "effect", "estimate", "std_error",
                                     "conf_low", "conf_high"])
    out = pd.concat(frames, ignore_index=True)
    out["label"] = out["term"].map(lambda t: term_label(t, labels))
    if "scale" in out:  # MCMC models of censored / binary outcomes: latent and observed-scale impacts
        observed = out["scale"].eq("observed")
        out.loc[observed, "effect"] = out.loc[observed, "effect"] + " (observed scale)"
    return out[["model_id", "term", "label", "channel", "effect", "estimate", "std_error", "conf_low", "conf_high"]]


def has_spillovers(numbers: pd.DataFrame) -> bool:
    """Whether a model's impacts include spillovers (an indirect impact that is not identically zero)."""
    indirect = numbers[numbers["effect"] == "indirect"]
    return bool(len(indirect)) and bool((indirect["estimate"].abs() > 0).any())


def impacts_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """One model's impacts: a row per regressor (estimate over [95% interval]); columns direct, indirect (per
    channel when there are several) and total, then a dynamic model's long-run direct, indirect and total."""
    cells: dict[tuple[str, str], tuple[str, str]] = {}
    columns: list[str] = []
    for r in numbers.itertuples(index=False):
        several = (numbers["channel"] != "all").any() and (numbers["channel"] == "all").any()
        name = ("Long-run " + r.effect.removeprefix("long_run_")) if r.effect.startswith("long_run_") \
            else r.effect.capitalize()
        if r.effect == "indirect" and several:
            name = "Indirect, all" if r.channel == "all" else f"Indirect via {r.channel}"
        if name not in columns:
            columns.append(name)
        cells[(r.label, name)] = (f"{r.estimate:.3f}", f"[{r.conf_low:.3f}, {r.conf_high:.3f}]")

    def order(c: str) -> tuple[bool, ...]:  # direct, indirect(s), total; the long-run ones after the short-run
        base = c.removeprefix("Long-run ").capitalize()
        return (c.startswith("Long-run "), base.startswith("Total"), base.startswith("Indirect, all"),
                base.startswith("Indirect"), base != "Direct")

    columns = sorted(columns, key=order)
    rows = []
    for variable in dict.fromkeys(numbers["label"]):
        rows.append([variable, *[cells.get((variable, c), ("", ""))[0] for c in columns]])
        rows.append(["", *[cells.get((variable, c), ("", ""))[1] for c in columns]])
    return pd.DataFrame(rows, columns=["", *columns])


IMPACTS_NOTE = ("Estimate over its 95% interval from simulated parameter draws (the standard errors are in "
                "impacts.csv). Direct: average own effect; indirect: average spillover through the channel; "
                "total: their sum. Dynamic models: direct / indirect / total are short-run, the long-run ones "
                "the steady-state effects (Elhorst 2014).")


def sample_groups(samples: Mapping[str, pd.DataFrame]) -> list[list[str]]:
    """Models grouped by identical estimation sample (the same state-years), in the order given."""
    groups: dict[frozenset, list[str]] = {}
    for model_id, sample in samples.items():
        key = frozenset(zip(sample["ccode"].tolist(), sample["year"].tolist(), strict=True))
        groups.setdefault(key, []).append(model_id)
    return list(groups.values())


def descriptives(panel: pd.DataFrame, labels: Mapping[str, str], columns: Sequence[str] | None = None,
                 units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """N, mean, standard deviation, min and max of ``columns`` (default every numeric column but the keys)."""
    units = units or {}
    if columns is None:
        columns = [c for c in panel.columns
                   if c not in ("ccode", "year") and pd.api.types.is_numeric_dtype(panel[c])]
    rows = [(c, labels.get(c, c), units.get(c, ""), int(panel[c].notna().sum()), panel[c].mean(), panel[c].std(),
             panel[c].min(), panel[c].max()) for c in columns]
    return pd.DataFrame(rows, columns=["column", "label", "unit", "n", "mean", "sd", "min", "max"])


def sample_descriptives(panel: pd.DataFrame, samples: Mapping[str, pd.DataFrame], fits: Mapping[str, Mapping],
                        codebook: Mapping[str, Mapping[str, str]],
                        model_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Descriptive statistics of the outcome and regressors on each distinct estimation sample (long format,
    ``sample`` = 1, 2, … and ``models`` = the labels of the models estimated on it)."""
    model_labels = model_labels or {}
    labels = {c: e["label"] for c, e in codebook.items()}
    units = {c: e["unit"] for c, e in codebook.items()}
    frames = []
    for k, group in enumerate(sample_groups(samples), start=1):
        keys = samples[group[0]][["ccode", "year"]]
        rows = keys.merge(panel, on=["ccode", "year"], how="left")
        variables = [v for m in group for v in [fits[m]["outcome"], *fits[m]["regressors"]] if v in panel.columns]
        desc = descriptives(rows, labels, list(dict.fromkeys(variables)), units)
        frames.append(desc.assign(sample=k, models="; ".join(model_labels.get(m, m) for m in group),
                                  states=rows["ccode"].nunique(),
                                  years="–".join(str(y) for y in sorted({rows["year"].min(), rows["year"].max()}))))
    if not frames:
        return pd.DataFrame(columns=["sample", "models", "states", "years", "column", "label", "unit", "n", "mean",
                                     "sd", "min", "max"])
    out = pd.concat(frames, ignore_index=True)
    return out[["sample", "models", "states", "years", *[c for c in out.columns
                                                          if c not in ("sample", "models", "states", "years")]]]


def descriptives_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """Printed descriptives of one sample: variable, unit, N and the statistics in sensible number formats."""
    out = pd.DataFrame({"Variable": numbers["label"], "Unit": numbers["unit"],
                        "N": [f"{n:,}" for n in numbers["n"]]})
    scale = numbers[["mean", "min", "max"]].abs().max(axis=1).to_numpy()
    for column, name in (("mean", "Mean"), ("sd", "SD"), ("min", "Min"), ("max", "Max")):
        out[name] = [format_number(v, s) for v, s in zip(numbers[column], scale, strict=True)]
    return out.reset_index(drop=True)


def weights_table(summaries: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per channel: years, mean states and links, islands, components and the admissible rho."""
    rows = []
    for channel, s in summaries.items():
        rows.append({
            "channel": channel,
            "years": f"{int(s['year'].min())}–{int(s['year'].max())}",
            "states_mean": s["n"].mean(),
            "links_mean": s["links"].mean(),
            "neighbours_mean": s["mean_neighbors"].mean(),
            "islands_max": int(s["islands"].max()),
            "components_max": int(s["components"].max()),
            "rho_min": s["rho_min"].max(),
            "rho_max": s["rho_max"].min(),
            "carried": _carried(s),
        })
    return pd.DataFrame(rows)


def weights_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """Printed weights summary."""
    return pd.DataFrame({
        "Channel": numbers["channel"], "Years": numbers["years"],
        "States": [f"{v:.0f}" for v in numbers["states_mean"]],
        "Links": [f"{v:,.0f}" for v in numbers["links_mean"]],
        "Neighbours per state": [f"{v:.1f}" for v in numbers["neighbours_mean"]],
        "Islands (max)": numbers["islands_max"].astype(str),
        "Components (max)": numbers["components_max"].astype(str),
        "Admissible ρ": [f"({lo:.3g}, {hi:.3g})" for lo, hi in zip(numbers["rho_min"], numbers["rho_max"],
                                                                   strict=True)],
        **({"Links carried forward": numbers["carried"].fillna("").astype(str)}
           if "carried" in numbers and numbers["carried"].fillna("").astype(str).ne("").any() else {}),
    })


WEIGHTS_NOTE = ("States, links and neighbours: means over years; islands and components: the most in any year. "
                "Admissible ρ = (1/smallest, 1/largest eigenvalue), the tightest over years.")

def _carried(summary: pd.DataFrame) -> str:
    """Years whose links are carried forward from the source's last year (``carry_forward``), or ''."""
    if "carried" not in summary or not summary["carried"].astype(bool).any():
        return ""
    rows = summary[summary["carried"].astype(bool)]
    return f"{int(rows['year'].min())}–{int(rows['year'].max())} from {int(rows['source_year'].max())}"


DIAGNOSTIC_LABELS = {"lm_error": "LM error", "lm_lag": "LM lag", "robust_lm_error": "Robust LM error",
                     "robust_lm_lag": "Robust LM lag", "sarma": "SARMA", "moran_i": "Moran's I of residuals"}


PANEL_DIAGNOSTIC_LABELS = {
    "within_transformed": {k: f"{v} (transformed within)" for k, v in DIAGNOSTIC_LABELS.items() if k != "moran_i"},
    "bsk": {"lm1": "BSK LM1 random effects", "slm1": "BSK SLM1 random effects", "lm2": "BSK LM2 spatial error",
            "slm2": "BSK SLM2 spatial error", "lm_h": "BSK LM-H joint",
            "clm_lambda": "BSK CLM spatial error given random effects",
            "clm_mu": "BSK CLM random effects given spatial error"},
}


def diagnostics_table(models: Mapping[str, tuple[dict, pd.DataFrame]]) -> pd.DataFrame:
    """Spatial diagnostics of OLS residuals (LM tests, Moran's I) and the Hausman test of random against fixed
    effects of every model that has them."""
    rows = []
    for model_id, (fit, _) in models.items():
        test = fit.get("hausman")
        if test:
            rows.append((model_id, ", ".join(fit["weights"]), f"Hausman, random vs fixed effects (df {test['df']})",
                         test["statistic"], None, test["p_value"]))
        diag = fit.get("spatial_diagnostics")
        if not diag:
            continue
        for key, label in DIAGNOSTIC_LABELS.items():
            if key in diag:
                d = diag[key]
                rows.append((model_id, diag.get("channel"), label, d["statistic"], d.get("z"), d["p_value"]))
        for block, labels in PANEL_DIAGNOSTIC_LABELS.items():
            for key, label in labels.items():
                d = diag.get(block, {}).get(key)
                if d:  # a "not applicable" block has no tests (its reason is in fit.json)
                    z = d["statistic"] if key.startswith(("lm1", "lm2", "slm", "clm")) else None
                    rows.append((model_id, diag.get("channel"), label, d["statistic"], z, d["p_value"]))
    return pd.DataFrame(rows, columns=["model_id", "channel", "test", "statistic", "z", "p_value"])


def diagnostics_display(numbers: pd.DataFrame, model_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Printed diagnostics: model label, channel, test, statistic, z, p-value (< 0.001 as such)."""
    model_labels = model_labels or {}
    return pd.DataFrame({
        "Model": [model_labels.get(m, m) for m in numbers["model_id"]], "Channel": numbers["channel"],
        "Test": numbers["test"], "Statistic": [f"{v:.3f}" for v in numbers["statistic"]],
        "z": [format_number(v) if v is not None and pd.notna(v) else "" for v in numbers["z"]],
        "p-value": [format_p(v) for v in numbers["p_value"]],
    })


def truth_table(truth: Mapping[str, float], coefficients: pd.DataFrame) -> pd.DataFrame:
    """Estimates beside the true values of the demo's data-generating process, with interval coverage."""
    rows = []
    for r in coefficients.itertuples(index=False):
        key = r.term if r.term.startswith(("rho_", "lambda_")) else f"beta_{r.term}"
        if key in truth:
            true = float(truth[key])
            rows.append((r.term, true, r.estimate, r.std_error, r.conf_low, r.conf_high,
                         bool(r.conf_low <= true <= r.conf_high)))
    return pd.DataFrame(rows, columns=["term", "truth", "estimate", "std_error", "conf_low", "conf_high", "covered"])


def truth_display(numbers: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Printed truth table."""
    return pd.DataFrame({
        "Parameter": [term_label(t, labels) for t in numbers["term"]],
        "True value": [f"{v:.3f}" for v in numbers["truth"]], "Estimate": [f"{v:.3f}" for v in numbers["estimate"]],
        "s.e.": [f"{v:.3f}" for v in numbers["std_error"]],
        "95% interval": [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(numbers["conf_low"], numbers["conf_high"],
                                                                  strict=True)],
        "Interval covers the truth": ["yes" if c else "NO" for c in numbers["covered"]],
    })


# ----------------------------------------------------------------------------------------------- renderers


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if not np.isfinite(value) else f"{value:.3f}"
    return str(value)


def _header(frame: pd.DataFrame, header: Sequence[Sequence[str]] | None) -> list[list[str]]:
    return [list(map(str, h)) for h in header] if header else [list(map(str, frame.columns))]


def to_markdown(frame: pd.DataFrame, note: str = "", header: Sequence[Sequence[str]] | None = None,
                caption: str = "") -> str:
    """A Markdown (pipe) table; several header lines are joined into one."""
    lines = _header(frame, header)
    cells = [" ".join(filter(None, column)) for column in zip(*lines, strict=True)]
    head = "| " + " | ".join(cells) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    for i, text in frame.attrs.get("spans", {}).items():
        body[i] = "| " + " | ".join([_fmt(frame.iloc[i, 0]), text] + [""] * (len(frame.columns) - 2)) + " |"
    title = f"**{caption}**\n\n" if caption else ""
    return title + "\n".join([head, rule, *body]) + ("\n\n" + note if note else "") + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "ρ": r"$\rho$", "λ": r"$\lambda$", "γ": r"$\gamma$", "·": r"$\cdot$", "–": "--", "—": "---",
                  "<": r"$<$",
                  ">": r"$>$", "≤": r"$\leq$", "≥": r"$\geq$", "×": r"$\times$", "−": "-", "’": "'",
                  "σ": r"$\sigma$", "β": r"$\beta$"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(frame: pd.DataFrame, note: str = "", midrule_after: int | None = None, *, caption: str = "",
             label: str = "", header: Sequence[Sequence[str]] | None = None,
             rules_after: Sequence[int] = ()) -> str:
    """A complete ``table`` environment: caption, label, booktabs rules, notes below (threeparttable).

    Needs ``\\usepackage{booktabs,threeparttable,adjustbox}`` in the preamble; a table wider than the text is
    shrunk to its width. ``rules_after`` (and the older
    ``midrule_after``) name body rows followed by a ``\\midrule``.
    """
    rules = set(rules_after) | ({midrule_after} if midrule_after is not None else set())
    align = "l" + "c" * (len(frame.columns) - 1)
    lines = [f"% {LATEX_PACKAGES}", r"\begin{table}[htbp]", r"\centering", r"\small"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    # shrunk to the text width only when wider (adjustbox's max width), notes shrunk with the table
    lines += [r"\begin{adjustbox}{max width=\linewidth}", r"\begin{threeparttable}",
              rf"\begin{{tabular}}{{{align}}}", r"\toprule"]
    lines += [" & ".join(_latex_escape(c) for c in h) + r" \\" for h in _header(frame, header)]
    lines.append(r"\midrule")
    spans = frame.attrs.get("spans", {})
    for i, row in enumerate(frame.itertuples(index=False)):
        if i in spans:
            lines.append(f"{_latex_escape(_fmt(row[0]))} & \\multicolumn{{{len(row) - 1}}}{{c}}"
                         f"{{{_latex_escape(spans[i])}}} \\\\")
        else:
            lines.append(" & ".join(_latex_escape(_fmt(v)) for v in row) + r" \\")
        if i + 1 in rules and i + 1 < len(frame):
            lines.append(r"\midrule")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if note:
        lines += [r"\begin{tablenotes}[flushleft]", r"\footnotesize", rf"\item {_latex_escape(note)}",
                  r"\end{tablenotes}"]
    lines += [r"\end{threeparttable}", r"\end{adjustbox}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(frame: pd.DataFrame, note: str = "", caption: str = "", *, header: Sequence[Sequence[str]] | None = None,
            rules_after: Sequence[int] = ()) -> str:
    """An HTML table (class ``pub``: styled by the report's stylesheet), caption above, notes below."""
    head = "".join("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in h) + "</tr>"
                   for h in _header(frame, header))
    spans = frame.attrs.get("spans", {})

    def cells(i: int, row: tuple) -> str:
        if i in spans:
            return (f"<td>{html.escape(_fmt(row[0]))}</td>"
                    f"<td class='span' colspan='{len(row) - 1}'>{html.escape(spans[i])}</td>")
        return "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row)

    body = "".join(("<tr class='rule'>" if i in rules_after else "<tr>") + cells(i, row) + "</tr>\n"
                   for i, row in enumerate(frame.itertuples(index=False)))
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    foot = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return (f'<div class="table-wrap"><table class="pub">{cap}<thead>{head}</thead><tbody>\n{body}</tbody></table>'
            f"</div>{foot}\n")


# ----------------------------------------------------------------------------------------------- the rule


def _write_formats(out_dir: Path, name: str, display: pd.DataFrame, numbers: pd.DataFrame, note: str = "",
                   formats: Sequence[str] = ("md", "tex", "csv"), caption: str = "") -> None:
    _write_parts(out_dir, name, [(caption, display, note)], numbers, formats)


def _write_parts(out_dir: Path, name: str, parts: Sequence[tuple[str, pd.DataFrame, str]], numbers: pd.DataFrame,
                 formats: Sequence[str] = ("md", "tex", "csv")) -> None:
    """Write one table file per format; a file may hold several tables (``parts``: caption, display, note)."""
    from interdep.io import write_table, write_text

    def render(fn, **extra):
        return "\n".join(fn(d, note, caption=cap, header=d.attrs.get("header"), **extra) for cap, d, note in parts)

    if "md" in formats:
        write_text(render(to_markdown), out_dir / f"{name}.md")
    if "tex" in formats:
        tex = "\n".join(to_latex(d, note, caption=cap, label=f"tab:{name}" + (f"-{k}" if len(parts) > 1 else ""),
                                 header=d.attrs.get("header"), rules_after=d.attrs.get("rules_after", ()))
                        for k, (cap, d, note) in enumerate(parts, start=1))
        write_text(tex, out_dir / f"{name}.tex")
    if "html" in formats:
        write_text("\n".join(to_html(d, note, caption=cap, header=d.attrs.get("header"),
                                     rules_after=d.attrs.get("rules_after", ())) for cap, d, note in parts),
                   out_dir / f"{name}.html")
    if "csv" in formats:
        write_table(numbers, out_dir / f"{name}.csv")


def impacts_parts(numbers: pd.DataFrame, model_labels: Mapping[str, str] | None = None,
                  fits: Mapping[str, Mapping] | None = None) -> list[tuple[str, pd.DataFrame, str]]:
    """One (caption, display, note) per model with spillovers; models without spatial terms get none."""
    model_labels, fits = model_labels or {}, fits or {}
    parts = []
    for model_id, part in numbers.groupby("model_id", sort=False):
        if not has_spillovers(part):
            continue
        fit = fits.get(model_id)
        facts = f" ({estimator_name(fit)}; {', '.join(fit['weights'])})" if fit else ""
        parts.append((f"Impacts: {model_labels.get(model_id, model_id)}{facts}", impacts_display(part), ""))
    if not parts:
        return [("Impacts", pd.DataFrame({"": ["No model in this run has spatial spillovers."]}), "")]
    caption, display, _ = parts[-1]
    parts[-1] = (caption, display, IMPACTS_NOTE)
    return parts


def descriptives_parts(numbers: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
    """One (caption, display, note) per estimation sample."""
    parts = []
    for _, part in numbers.groupby("sample", sort=True):
        first = part.iloc[0]
        caption = (f"Sample {first['sample']}: {first['states']} states, {first['years']}, N = {int(part['n'].max()):,}"
                   f" — models {first['models']}")
        parts.append((caption, descriptives_display(part), ""))
    if parts:
        caption, display, _ = parts[-1]
        parts[-1] = (caption, display, "Statistics over each model's estimation sample (the state-years it used).")
    return parts
CHANNEL_CHOICE_ABSORBED = 0.1  # flag channels whose W y keeps less than this sd ratio after the fixed effects


def channel_choice_note(table: pd.DataFrame) -> str:
    """What the channel-choice probabilities mean and do not mean, with the channels the effects absorb."""
    note = ("Posterior probability that each candidate generated the outcome, among the candidates listed (equal "
            "prior unless configured; flat priors on the coefficients, rho uniform on its admissible interval; for "
            "SAR and SDM with fixed effects the log-Jacobian is adjusted for the effects, log|A| - tr(P_D log A), "
            "Lee & Yu's transformed Jacobian where it applies, which removes the pull of rho towards 0 that "
            "integrating the effects out leaves). "
            "A low probability does not show that a channel has no effect: it says the data favour another "
            "candidate with the same regressors and effects; probabilities across model types (SAR against SDM) "
            "also depend on the flat prior of the coefficients. Subsets of channels (a+b) are the convex "
            "combination W(γ) = Σ γ_k W_k, γ uniform on the simplex; their error is an importance-sampling "
            "standard error.")
    absorbed = table.loc[table["wy_sd_ratio"] < CHANNEL_CHOICE_ABSORBED].drop_duplicates("channels")
    if len(absorbed):
        shares = ", ".join(f"{r.channels} {r.wy_sd_ratio:.3f}" for r in absorbed.itertuples())
        note += (" The fixed effects leave W·y almost no variation of its own (sd of W·y over sd of the outcome, "
                 f"both after the effects: {shares}): a near-complete graph makes W·y nearly the year mean, "
                 "which the year effects absorb, so the data say little about that channel.")
    return note


def channel_choice_display(table: pd.DataFrame) -> pd.DataFrame:
    """Display frame of the channel choice (numbers rounded; the CSV keeps them unrounded)."""
    gamma = table["gamma"].fillna("") if "gamma" in table else ""
    return pd.DataFrame({
        "Model": table["model_type"].str.upper(),
        "Channels": table["channels"],
        "log marginal (± error)": [f"{v:.2f} (± {e:.2g})" for v, e in zip(table["log_marginal"], table["error"],
                                                                           strict=True)],
        "Probability": table["probability"].map(lambda v: f"{v:.3f}"),
        "ρ posterior mean (sd)": [f"{m:.3f} ({s:.3f})" for m, s in zip(table["rho_mean"], table["rho_sd"],
                                                                        strict=True)],
        "γ posterior mean": gamma,
        "sd(W·y) / sd(y) after effects": table["wy_sd_ratio"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}"),
    })


def write_channel_choice(table: pd.DataFrame, out_dir: str | Path) -> None:
    """``channel_choice.{md,tex,csv}`` (CSV: ``model_type, channels, log_marginal, probability`` and more)."""
    _write_formats(Path(out_dir), "channel_choice", channel_choice_display(table), table, channel_choice_note(table))


CHANNEL_BMA_NOTE = (
    "Bayesian model averaging over the candidate channel subsets of each model type (Debarsy & LeSage 2022): "
    "each subset's posterior weighted by its posterior probability among the subsets of that model type "
    "(the channel-choice table's probabilities, renormalised), so that the estimates do not rest on choosing one "
    "channel. Inclusion probability: the probability of the subsets that contain the channel (they sum to more "
    "than 1 when subsets have several channels). ρ is the spatial parameter of the candidate's W (W(γ) = Σ γ_k "
    "W_k for a subset; γ_k = 0 where channel k is left out); W·x: the SDM's coefficient of the lag of x. "
    "Impacts (LeSage & Pace 2009) from exact per-year traces; the indirect impact carried by a channel is its "
    "share of the spillover's first step. Posterior means (sd) and 95% equal-tailed intervals from 2,000 draws "
    "per subset; MC error: Monte Carlo standard error of the posterior mean (for a subset dominated by the "
    "64 importance-sampling points of γ). Subsets whose combined probability is below 1e-6 are left out; "
    "SEM candidates are not averaged.")


def _bma_term(term: str, labels: Mapping[str, str]) -> str:
    if term == "inclusion":
        return "Inclusion probability"
    if term == "rho":
        return "ρ"
    if term == "sigma2":
        return "σ²"
    if term.startswith("gamma_"):
        return f"γ ({term[6:]})"
    if term.startswith("W_") and term not in labels:
        return f"W·{labels.get(term[2:], term[2:])}"
    return labels.get(term, term)


def channel_bma_parts(table: pd.DataFrame, labels: Mapping[str, str] | None = None
                      ) -> list[tuple[str, pd.DataFrame, str]]:
    """One (caption, display, note) per model type of the averaged channel choice (numbers rounded)."""
    labels = labels or {}
    parts = []
    for mt, part in table.groupby("model_type", sort=False):
        inc = part["quantity"] == "inclusion"
        display = pd.DataFrame({
            "Quantity": part["term"].map(lambda t: _bma_term(str(t), labels)),
            "Channel": part["channel"].fillna("").astype(str).replace({"all": "all channels"}),
            "Effect": part["effect"].fillna(""),
            "Posterior mean (sd)": [f"{v:.3f}" if i else f"{v:.3f} ({s:.3f})"
                                    for v, s, i in zip(part["estimate"], part["std_error"], inc, strict=True)],
            "95% interval": ["" if i else f"[{lo:.3f}, {hi:.3f}]"
                             for lo, hi, i in zip(part["conf_low"], part["conf_high"], inc, strict=True)],
            "MC error": part["mc_error"].map(lambda v: "< 1e-6" if v < 1e-6 else f"{v:.2g}"),
        }).reset_index(drop=True)
        first = part.iloc[0]
        caption = (f"Model-averaged {str(mt).upper()}: {int(first['candidates'])} channel subset(s) averaged, "
                   f"probability left out {first['omitted']:.1g}")
        parts.append((caption, display, ""))
    if not parts:
        return [("Model averaging", pd.DataFrame({"": ["No SAR or SDM candidate to average."]}), CHANNEL_BMA_NOTE)]
    caption, display, _ = parts[-1]
    parts[-1] = (caption, display, CHANNEL_BMA_NOTE)
    return parts


def write_channel_bma(table: pd.DataFrame, out_dir: str | Path, labels: Mapping[str, str] | None = None) -> None:
    """``channel_bma.{md,tex,csv}`` (CSV: the numbers of
    :func:`interdep.models.bayes.averaging.average_channels`, unrounded)."""
    _write_parts(Path(out_dir), "channel_bma", channel_bma_parts(table, labels), table)


def write_tables(*, model_dirs: Sequence[str | Path], tables: Mapping[str, Sequence[str]], codebook: str | Path,
                 panel: pd.DataFrame, weights_summaries: Mapping[str, pd.DataFrame], out_dir: str | Path,
                 truth: Mapping[str, float] | None = None, truth_model: str | None = None,
                 model_labels: Mapping[str, str] | None = None) -> None:
    """Write every table of the ``tables`` rule into ``out_dir``."""
    out_dir = Path(out_dir)
    book = read_codebook(codebook)
    labels = {c: e["label"] for c, e in book.items()}
    models = load_models(model_dirs)
    fits = {m: f for m, (f, _) in models.items()}
    model_labels = model_labels or {}
    for name, order in tables.items():
        display = regression_table(models, order, labels, model_labels)
        outcomes = sorted({labels.get(fits[m]["outcome"], fits[m]["outcome"]) for m in order})
        _write_formats(out_dir, f"regression_{name}", display, regression_numbers(models, order),
                       display.attrs["note"], formats=("md", "tex", "html", "csv"),
                       caption=f"Regression table {name}: {'; '.join(outcomes)}")
    impacts = {m: read_table(Path(d) / "impacts.csv") for m, d in zip(models, model_dirs, strict=True)}
    numbers = impacts_table(impacts, labels)
    _write_parts(out_dir, "impacts", impacts_parts(numbers, model_labels, fits), numbers)
    diagnostics = diagnostics_table(models)
    _write_formats(out_dir, "diagnostics", diagnostics_display(diagnostics, model_labels), diagnostics,
                   "Lagrange multiplier tests (chi-squared) and Moran's I (z) of OLS residuals on the named channel; "
                   "with fixed effects also their transformed within forms (Lee & Yu 2010; Debarsy & Ertur 2010), "
                   "for a pooled balanced panel with one W the Baltagi, Song & Koh (2003) tests (z; LM-H "
                   "chi-bar-squared); "
                   "Hausman: spatial Hausman test (chi-squared) of the random- against the fixed-effects slopes.",
                   caption="Spatial diagnostics of OLS residuals")
    samples = {m: read_table(Path(d) / "sample.csv") for m, d in zip(models, model_dirs, strict=True)}
    desc = sample_descriptives(panel, samples, fits, book, model_labels)
    _write_parts(out_dir, "descriptives", descriptives_parts(desc), desc)
    weights = weights_table(weights_summaries)
    _write_formats(out_dir, "weights", weights_display(weights), weights, WEIGHTS_NOTE,
                   caption="Weight graphs per channel")
    if truth is not None and truth_model:
        table = truth_table(truth, models[truth_model][1])
        _write_formats(out_dir, "truth", truth_display(table, labels), table,
                       f"{model_labels.get(truth_model, truth_model)} on the simulated demo outcome; true values "
                       "from data/demo/truth.json.", caption="Demo: estimates against the true values")
