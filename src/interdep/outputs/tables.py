"""Publication tables from the models' contract files: regression tables with models side by side, impacts,
descriptive statistics, a weights summary per channel, and (demo) estimates beside the true values.

Every table is built once as a frame of display strings and rendered to Markdown, LaTeX (booktabs) and HTML;
the numbers behind it go to CSV, copied from ``models/<id>/coefficients.csv`` without rounding.
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
EFFECT_LABELS = {"none": "none", "unit": "state", "time": "year", "twoway": "state + year"}


# ----------------------------------------------------------------------------------------------- inputs


def read_labels(codebook_md: str | Path) -> dict[str, str]:
    """Column -> label from a codebook.md written by :func:`interdep.panel.codebook.render_codebook`."""
    labels = {}
    for line in Path(codebook_md).read_text().splitlines():
        match = re.match(r"\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|", line)
        if match:
            labels[match.group(1)] = match.group(2)
    return labels


def term_label(term: str, labels: Mapping[str, str]) -> str:
    """Readable name of a coefficient term: codebook label, spatial parameters and W-lags spelled out."""
    if term == "const":
        return "Constant"
    for prefix, symbol in (("rho_", "ρ"), ("lambda_", "λ")):
        if term.startswith(prefix):
            return f"{symbol} ({term[len(prefix):]})"
    match = re.match(r"W_([a-z0-9_]+?)_(.+)$", term)
    if match and match.group(2) in labels:
        return f"W·{labels[match.group(2)]} ({match.group(1)})"
    return labels.get(term, term)


def load_models(model_dirs: Sequence[str | Path]) -> dict[str, tuple[dict, pd.DataFrame]]:
    """model_id -> (fit.json, coefficients.csv) for each models/<id>/ folder."""
    out = {}
    for folder in map(Path, model_dirs):
        fit = json.loads((folder / "fit.json").read_text())
        out[fit["model_id"]] = (fit, read_table(folder / "coefficients.csv"))
    return out


# ----------------------------------------------------------------------------------------------- tables


def stars(p: float) -> str:
    """Significance marks: *** p < 0.01, ** p < 0.05, * p < 0.1."""
    if p is None or not np.isfinite(p):
        return ""
    return next((mark for level, mark in STARS if p < level), "")


def regression_table(models: Mapping[str, tuple[dict, pd.DataFrame]], order: Sequence[str],
                     labels: Mapping[str, str]) -> pd.DataFrame:
    """Display frame: one column per model, estimate (with stars) over (standard error), then model facts."""
    terms: list[str] = []
    for model_id in order:
        for term in models[model_id][1]["term"]:
            if term not in terms:
                terms.append(term)
    spatial = [t for t in terms if t.startswith(("rho_", "lambda_"))]
    terms = [t for t in terms if t not in spatial and t != "const"] + spatial + (["const"] if "const" in terms else [])
    rows: list[tuple[str, list[str]]] = []
    for term in terms:
        estimates, errors = [], []
        for model_id in order:
            coefs = models[model_id][1].set_index("term")
            if term in coefs.index:
                r = coefs.loc[term]
                estimates.append(f"{r['estimate']:.3f}{stars(r['p_value'])}")
                errors.append(f"({r['std_error']:.3f})")
            else:
                estimates.append("")
                errors.append("")
        rows += [(term_label(term, labels), estimates), ("", errors)]
    facts = {
        "Estimator": lambda f: f["estimator"],
        "Weights": lambda f: ", ".join(f["weights"]),
        "Fixed effects": lambda f: EFFECT_LABELS.get(f["effects"], f["effects"]),
        "States": lambda f: str(f["n_units"]),
        "Years": lambda f: "–".join(str(y) for y in sorted({f["years"][0], f["years"][-1]})),
        "N": lambda f: str(f["n_obs"]),
        "Log-likelihood": lambda f: "" if f.get("log_likelihood") is None else f"{f['log_likelihood']:.2f}",
        "AIC": lambda f: "" if f.get("aic") is None else f"{f['aic']:.2f}",
        "Converged": lambda f: "yes" if f.get("converged", True) else "NO",
    }
    for name, get in facts.items():
        rows.append((name, [get(models[m][0]) for m in order]))
    frame = pd.DataFrame([values for _, values in rows], columns=list(order))
    frame.insert(0, "", [name for name, _ in rows])
    frame.attrs["n_coefficient_rows"] = 2 * len(terms)
    return frame


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
    return out[["model_id", "term", "label", "channel", "effect", "estimate", "std_error", "conf_low", "conf_high"]]


def impacts_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """Display frame of the impacts: estimate (s.e.) [95% interval]."""
    out = numbers[["model_id", "label", "channel", "effect"]].copy()
    out.columns = ["Model", "Variable", "Channel", "Effect"]
    out["Estimate (s.e.)"] = [f"{e:.3f} ({s:.3f})" for e, s in zip(numbers["estimate"], numbers["std_error"],
                                                                   strict=True)]
    out["95% interval"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(numbers["conf_low"], numbers["conf_high"],
                                                                     strict=True)]
    return out.reset_index(drop=True)


def descriptives(panel: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """N, mean, standard deviation, min and max of each numeric panel column but the keys."""
    columns = [c for c in panel.columns if c not in ("ccode", "year") and pd.api.types.is_numeric_dtype(panel[c])]
    rows = [
        (c, labels.get(c, c), int(panel[c].notna().sum()), panel[c].mean(), panel[c].std(), panel[c].min(),
         panel[c].max())
        for c in columns
    ]
    return pd.DataFrame(rows, columns=["column", "label", "n", "mean", "sd", "min", "max"])


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
        })
    return pd.DataFrame(rows)


DIAGNOSTIC_LABELS = {"lm_error": "LM error", "lm_lag": "LM lag", "robust_lm_error": "Robust LM error",
                     "robust_lm_lag": "Robust LM lag", "sarma": "SARMA", "moran_i": "Moran's I of residuals"}


def diagnostics_table(models: Mapping[str, tuple[dict, pd.DataFrame]]) -> pd.DataFrame:
    """Spatial diagnostics of OLS residuals (LM tests, Moran's I) of every model that has them."""
    rows = []
    for model_id, (fit, _) in models.items():
        diag = fit.get("spatial_diagnostics")
        if not diag:
            continue
        for key, label in DIAGNOSTIC_LABELS.items():
            if key in diag:
                d = diag[key]
                rows.append((model_id, diag.get("channel"), label, d["statistic"], d.get("z"), d["p_value"]))
    return pd.DataFrame(rows, columns=["model_id", "channel", "test", "statistic", "z", "p_value"])


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


# ----------------------------------------------------------------------------------------------- renderers


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if not np.isfinite(value) else f"{value:.3f}"
    return str(value)


def to_markdown(frame: pd.DataFrame, note: str = "") -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + ("\n\n" + note if note else "") + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "ρ": r"$\rho$", "λ": r"$\lambda$",
                  "·": r"$\cdot$", "–": "--"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(frame: pd.DataFrame, note: str = "", midrule_after: int | None = None) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); ``midrule_after`` body rows get a rule after them."""
    align = "l" + "c" * (len(frame.columns) - 1)
    lines = [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(_latex_escape(str(c)) for c in frame.columns) + r" \\", r"\midrule"]
    for i, row in enumerate(frame.itertuples(index=False)):
        lines.append(" & ".join(_latex_escape(_fmt(v)) for v in row) + r" \\")
        if midrule_after is not None and i + 1 == midrule_after:
            lines.append(r"\midrule")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if note:
        lines.append(r"\par\footnotesize " + _latex_escape(note))
    return "\n".join(lines) + "\n"


def to_html(frame: pd.DataFrame, note: str = "", caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>\n"
        for row in frame.itertuples(index=False)
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    foot = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f'<table class="regression">{cap}<thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>{foot}\n'


REGRESSION_NOTE = ("Standard errors in parentheses. *** p < 0.01, ** p < 0.05, * p < 0.1. "
                   "Spatial parameters ρ per interdependence channel.")


# ----------------------------------------------------------------------------------------------- the rule


def _write_formats(out_dir: Path, name: str, display: pd.DataFrame, numbers: pd.DataFrame, note: str = "",
                   midrule_after: int | None = None, formats: Sequence[str] = ("md", "tex", "csv")) -> None:
    from interdep.io import write_table, write_text

    if "md" in formats:
        write_text(to_markdown(display, note), out_dir / f"{name}.md")
    if "tex" in formats:
        write_text(to_latex(display, note, midrule_after), out_dir / f"{name}.tex")
    if "html" in formats:
        write_text(to_html(display, note), out_dir / f"{name}.html")
    if "csv" in formats:
        write_table(numbers, out_dir / f"{name}.csv")


CHANNEL_CHOICE_ABSORBED = 0.1  # flag channels whose W y keeps less than this sd ratio after the fixed effects


def channel_choice_note(table: pd.DataFrame) -> str:
    """What the channel-choice probabilities mean and do not mean, with the channels the effects absorb."""
    note = ("Posterior probability that each candidate generated the outcome, among the candidates listed (equal "
            "prior unless configured; flat priors on the coefficients, rho uniform on its admissible interval). "
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


def write_tables(*, model_dirs: Sequence[str | Path], tables: Mapping[str, Sequence[str]], codebook: str | Path,
                 panel: pd.DataFrame, weights_summaries: Mapping[str, pd.DataFrame], out_dir: str | Path,
                 truth: Mapping[str, float] | None = None, truth_model: str | None = None) -> None:
    """Write every table of the ``tables`` rule into ``out_dir``."""
    out_dir = Path(out_dir)
    labels = read_labels(codebook)
    models = load_models(model_dirs)
    for name, order in tables.items():
        display = regression_table(models, order, labels)
        _write_formats(out_dir, f"regression_{name}", display, regression_numbers(models, order), REGRESSION_NOTE,
                       midrule_after=display.attrs["n_coefficient_rows"], formats=("md", "tex", "html", "csv"))
    impacts = {m: read_table(Path(d) / "impacts.csv") for m, d in zip(models, model_dirs, strict=True)}
    numbers = impacts_table(impacts, labels)
    _write_formats(out_dir, "impacts", impacts_display(numbers), numbers,
                   "Direct, indirect and total impacts; standard errors and 95% intervals from simulated draws.")
    diagnostics = diagnostics_table(models)
    _write_formats(out_dir, "diagnostics", diagnostics, diagnostics,
                   "Lagrange multiplier tests (chi-squared) and Moran's I (z) of OLS residuals on the named channel.")
    desc = descriptives(panel, labels)
    _write_formats(out_dir, "descriptives", desc.drop(columns="column"), desc)
    weights = weights_table(weights_summaries)
    _write_formats(out_dir, "weights", weights, weights,
                   "Means over years; rho interval = (1/smallest, 1/largest eigenvalue), the tightest over years.")
    if truth is not None and truth_model:
        table = truth_table(truth, models[truth_model][1])
        _write_formats(out_dir, "truth", table, table,
                       f"Model {truth_model} on the simulated demo outcome; truth from data/demo/truth.json.")
