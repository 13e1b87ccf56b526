"""report.html: one self-contained page (figures embedded, no network) that opens with a summary a referee reads
first (data, sample, outcome, the headline answers), then every table and figure, each captioned with what it
shows and which rule and config entry made it, the models and the provenance of the run.

The page is a list of sections, ``SECTIONS``: (anchor, title, function of a :class:`Report` returning the
section's HTML, or "" to leave it out). A new section is one entry there; a new headline of the summary is one
entry of ``HEADLINES``. The table of contents is built from ``SECTIONS``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from interdep.io import read_table
from interdep.outputs import tables as tbl

# name -> (caption, rule, script, config keys). Also the source of the README's artefact map.
# Names ending in "_{channel}" stand for one figure per channel.
FIGURES = {
    "map_contributions": ("World map of personnel contributed in the map year (log10 scale).",
                          "figures", "scripts/make_figures.py", "outputs.map_year"),
    "map_change": ("World map of the change in log(1 + personnel) from the first year to the map year.",
                   "figures", "scripts/make_figures.py", "outputs.map_year"),
    "moran_by_year": ("Moran's I of the outcome by year, one line per channel, permutation p-values.",
                      "moran, figures", "scripts/moran_by_year.py, scripts/make_figures.py",
                      "channels, outputs.moran_outcome, seed"),
    "moran_scatter_{channel}": ("Moran scatter of the outcome on one channel in the map year, islands left out, with "
                                "the OLS line; its slope equals Moran's I only without islands (I is printed).",
                                "figures", "scripts/make_figures.py", "channels, outputs.map_year"),
    "links_{channel}": ("The channel's links in the map year, drawn between capitals.",
                        "weights, figures", "scripts/build_weights.py, scripts/make_figures.py",
                        "channels, outputs.capitals, outputs.map_year"),
    "coefficients": ("Estimates and 95% intervals of every term across models.",
                     "fit_model, figures", "scripts/fit_model.py, scripts/make_figures.py", "models"),
    "impacts": ("Direct, indirect and total impacts with 95% intervals from simulated parameter draws.",
                "fit_model, tables, figures", "scripts/fit_model.py, scripts/make_figures.py", "models, seed"),
    "profile_loglik": ("Log-likelihood along each rho of every spatial ML model, relative to its maximum.",
                       "fit_model, figures", "scripts/fit_model.py, scripts/make_figures.py", "models"),
    "truth": ("Demo only: estimates of the truth model beside the true parameters of the simulation.",
              "fit_model, figures", "scripts/fit_model.py, scripts/make_figures.py",
              "outputs.truth, outputs.truth_model"),
    "channel_choice": ("Which channel? Posterior probability of each candidate channel and model type, each "
                       "channel's posterior inclusion probability (with subsets of channels), and the posterior of "
                       "each channel's share gamma in every sar_conv / sdm_conv model.",
                       "channel_choice", "scripts/channel_choice.py", "outputs.channel_choice"),
}


def figure_info(name: str) -> tuple[str, str, str, str]:
    """Caption, rule, script and config keys of a figure (per-channel names resolved to their pattern)."""
    if name in FIGURES:
        return FIGURES[name]
    for pattern, info in FIGURES.items():
        prefix = pattern.removesuffix("{channel}")
        if pattern.endswith("{channel}") and name.startswith(prefix):
            channel = name[len(prefix):]
            return (f"{info[0]} Channel: {channel}.", *info[1:])
    raise KeyError(f"figure {name!r} has no entry in interdep.outputs.report.FIGURES")


CENSORED_NOTE = (
    "Many state-years contribute nobody, so the censored and binary models treat contributing as crossing a "
    "threshold: the Tobit models (sar_tobit) explain how much a state is inclined to contribute, seen only when the "
    "inclination is positive, and the probit models (sar_probit) whether it contributes at all, both with the "
    "inclination depending on the neighbours' inclinations (rho). A linear model beside them treats the zeros as "
    "ordinary values; the Bayesian columns report posterior means with posterior standard deviations and 95% "
    "credible intervals (coefficients.csv), on the scale of the latent inclination (impacts on the observed scale "
    "are in the impacts table).")
#: estimators whose tables carry CENSORED_NOTE
CENSORED_ESTIMATORS = ("sar_tobit", "sar_probit")


TABLES = {
    "regression": ("Regression table: models side by side (one per `outputs.tables` entry).",
                   "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py", "models, outputs.tables"),
    "impacts": ("Direct, indirect and total impacts with simulated standard errors and 95% intervals.",
                "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py", "models, seed"),
    "diagnostics": ("Spatial diagnostics of OLS residuals: LM error, LM lag, their robust forms, SARMA, Moran's I; "
                    "transformed within LM tests (fixed effects), Baltagi-Song-Koh tests (pooled balanced panel).",
                    "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py", "models (estimator: ols)"),
    "descriptives": ("Descriptive statistics of the outcome and regressors on each estimation sample.",
                     "panel, fit_model, tables", "scripts/build_panel.py, scripts/make_tables.py", "panel, models"),
    "weights": ("Weight graphs per channel: size, links, islands, components, admissible rho.",
                "weights, tables", "scripts/build_weights.py, scripts/make_tables.py", "channels"),
    "coverage": ("Years each variable and channel covers, and the years each model can use (tables/coverage.csv).",
                 "coverage", "scripts/coverage_table.py", "panel, channels (carry_forward), models (years)"),
    "sources_comparison": ("Two contribution sources over the years both cover: world totals, ratio, the states "
                           "differing most.", "panel", "scripts/build_panel.py", "panel.combine"),
    "truth": ("Demo only: estimates beside the true values, and whether the 95% interval covers them.",
              "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py",
              "outputs.truth, outputs.truth_model"),
    "channel_choice": ("Which channel? Flat-prior log-marginal likelihood and posterior probability of each "
                       "candidate channel and model type, with the posterior of its spatial parameter.",
                       "channel_choice", "scripts/channel_choice.py", "outputs.channel_choice"),
    "channel_bma": ("Which channel, averaged: estimates and impacts averaged over the candidate channel subsets "
                    "with their posterior probabilities, and each channel's posterior inclusion probability.",
                    "channel_choice", "scripts/channel_choice.py", "outputs.channel_choice"),
    "dropped": ("Contributions left out of the panel because the config says so (panel.nonmember: drop): each "
                "source row, its personnel and why it could not be placed.",
                "panel", "scripts/build_panel.py", "panel.nonmember"),
}
#: Tables not written under tables/ (the README's artefact map names their file).
TABLE_FILES = {"dropped": "results/<dataset>/dropped.csv", "coverage": "results/<dataset>/tables/coverage.csv",
               "sources_comparison": "results/<dataset>/tables/sources_comparison.md|csv"}

STYLE = """
body{font-family:Georgia,serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1,h2,h3,nav{font-family:Helvetica,Arial,sans-serif} h2{border-top:1px solid #ccc;padding-top:1rem;margin-top:2.5rem}
nav ol{columns:2;font-size:.9rem} .table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.5rem 0;font-size:.82rem;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:bold;padding:.3rem 0;font-family:Helvetica,Arial,sans-serif}
th,td{padding:.12rem .55rem;text-align:center;vertical-align:top} th:first-child,td:first-child{text-align:left}
table.pub thead tr:first-child th{border-top:2px solid #222}
table.pub thead tr:last-child th{border-bottom:1px solid #222}
table.pub tbody tr:last-child td{border-bottom:2px solid #222} table.pub tr.rule td{border-top:1px solid #222}
table.plain th{border-bottom:1px solid #222} table.plain td{border-bottom:1px solid #eee}
td.span{font-style:italic} .note,.made{font-size:.8rem;color:#555;max-width:50rem} img{max-width:100%;height:auto}
.notice{background:#fff4d6;border-left:4px solid #E69F00;padding:.5rem 1rem} code{font-size:.85rem}
.summary{background:#f4f7fb;border-left:4px solid #0072B2;padding:.5rem 1rem} figure{margin:1.5rem 0}
.warn{color:#b00} code.id{font-size:.7rem;color:#555;word-break:break-all}
td.hash,td.path{font-family:monospace;font-size:.75rem;word-break:break-all;text-align:left}
"""


@dataclass
class Report:
    """What the sections of the page are made from (the report rule's inputs)."""

    dataset: str
    table_names: Sequence[str]
    figure_names: Sequence[str]
    tables_dir: Path
    figures_dir: Path
    fits: Sequence[dict]
    provenance: Mapping
    truth_model: str | None = None
    model_labels: Mapping[str, str] = field(default_factory=dict)
    table_models: Mapping[str, Sequence[str]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    codebook_summary: str = ""
    dropped: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    warn_share: float = 0.05
    channel_choice: bool = False
    counters: dict[str, int] = field(default_factory=lambda: {"table": 0, "figure": 0})

    def label(self, model_id: str) -> str:
        return self.model_labels.get(model_id, model_id)

    def number(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]


def _made_by(rule: str, script: str, keys: str) -> str:
    return (f'<p class="made">Made by rule <code>{html.escape(rule)}</code> ({html.escape(script)}); '
            f"config: <code>{html.escape(keys)}</code>.</p>")


def _figure(report: Report, name: str) -> str:
    path = report.figures_dir / f"{name}.png"
    caption, rule, script, keys = figure_info(name)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    k = report.number("figure")
    return (f'<figure id="fig-{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption><strong>Figure {k}.</strong> {html.escape(caption)}</figcaption>"
            f"{_made_by(rule, script, keys)}</figure>")


def _table_section(report: Report, title: str, kind: str, body: str) -> str:
    caption, rule, script, keys = TABLES[kind]
    k = report.number("table")
    return (f"<h3>Table {k}. {html.escape(title)}</h3><p>{html.escape(caption)}</p>{body}"
            f"{_made_by(rule, script, keys)}")


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    """An HTML table of already-escaped cells; ``classes`` per column (e.g. "hash")."""
    classes = list(classes) + [""] * (len(header) - len(classes))
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='{c}'>{v}</td>" if c else f"<td>{v}</td>"
                                    for v, c in zip(row, classes, strict=True)) + "</tr>" for row in rows)
    return (f"<div class='table-wrap'><table class='plain'><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>")


def _read(report: Report, name: str) -> pd.DataFrame | None:
    path = report.tables_dir / name
    return read_table(path) if path.is_file() else None


# ----------------------------------------------------------------------------------------------- the summary


def headline_interdependence(report: Report) -> str:
    """The size of interdependence: every spatial parameter of the models in the tables, with its interval."""
    rows, seen = [], set()
    for name in report.table_names:
        numbers = _read(report, f"regression_{name}.csv")
        if numbers is None:
            continue
        spatial = numbers[numbers["term"].str.startswith(("rho_", "lambda_"))]
        for r in spatial.itertuples(index=False):
            if (r.model_id, r.term) in seen:
                continue
            seen.add((r.model_id, r.term))
            rows.append([html.escape(report.label(r.model_id)), html.escape(tbl.term_label(r.term, report.labels)),
                         f"{r.estimate:.3f}", f"[{r.conf_low:.3f}, {r.conf_high:.3f}]", tbl.format_p(r.p_value)])
    if not rows:
        return "<p>No model in the tables has a spatial parameter.</p>"
    return ("<p><strong>How strong is interdependence?</strong> The spatial parameters of the models in the tables "
            "(ρ: a state's outcome on the weighted mean of its partners' outcomes on that channel; λ: spatial "
            "dependence of the errors). Spillovers in outcome units: the impacts section.</p>"
            + _plain_table(["model", "parameter", "estimate", "95% interval", "p-value"], rows))


def headline_channel(report: Report) -> str:
    """Which channel carries the interdependence: the most probable channel set per model type, when the run
    wrote ``tables/channel_choice.csv`` (``model_type, channels, log_marginal, probability``)."""
    choice = _read(report, "channel_choice.csv")
    if choice is None or not len(choice):
        return ""
    best = choice.sort_values("probability", ascending=False).drop_duplicates("model_type")
    rows = [[html.escape(str(r.model_type)), html.escape(str(r.channels)), f"{r.probability:.3f}"]
            for r in best.itertuples(index=False)]
    return ("<p><strong>Which channel?</strong> The most probable channel(s) by posterior model probability "
            "(section Channel choice):</p>" + _plain_table(["model type", "channel(s)", "probability"], rows))


def headline_censoring(report: Report) -> str:
    """How far the linear SAR on a censored outcome is from the Tobit on it: for each ``sar_tobit`` model in the
    ``censored`` table (all tables when there is none), the ``sar_ml`` models on the same outcome, channel, effects
    and years, with their rho's (a sentence) and every common coefficient (a table); on the demo also the
    ``sar_ml`` model on the uncensored index with the same channel, effects and years (what the Tobit should
    reproduce, and the benchmark of both when no true rho of truth.json applies, e.g. one channel of two)."""
    censored = _read(report, "regression_censored.csv")  # the censored table's models when there is one
    coefs = [censored] if censored is not None else [
        c for c in (_read(report, f"regression_{n}.csv") for n in report.table_names) if c is not None]
    if not coefs:
        return ""
    est = pd.concat(coefs).drop_duplicates(["model_id", "term"]).set_index(["model_id", "term"])

    def same(a: dict, b: dict) -> bool:
        return all(a.get(k) == b.get(k) for k in ("weights", "effects", "years"))

    def value(model_id: str, term: str) -> str:
        r = est.loc[(model_id, term)]
        return f"{r['estimate']:.3f} [{r['conf_low']:.3f}, {r['conf_high']:.3f}]"

    parts = []
    for tobit in (f for f in report.fits if f["estimator"] == "sar_tobit"):
        terms = [t for m, t in est.index if m == tobit["model_id"]]
        outcome = report.labels.get(tobit["outcome"], tobit["outcome"])
        for lin in (f for f in report.fits if f["estimator"] == "sar_ml" and same(f, tobit)
                    and f["outcome"] == tobit["outcome"] and f["model_id"] in est.index.get_level_values(0)):
            refs = [f for f in report.fits if report.dataset == "demo" and f["estimator"] == "sar_ml"
                    and same(f, tobit) and f["outcome"] != tobit["outcome"]
                    and f["model_id"] in est.index.get_level_values(0)]
            common = [t for t in terms if (lin["model_id"], t) in est.index]
            for term in (t for t in common if t.startswith("rho_")):
                diff = est.loc[(lin["model_id"], term), "estimate"] - est.loc[(tobit["model_id"], term), "estimate"]
                text = (f"On the censored outcome {outcome}, the linear model ({report.label(lin['model_id'])}) puts "
                        f"{tbl.term_label(term, report.labels)} at {value(lin['model_id'], term)}, the Tobit "
                        f"({report.label(tobit['model_id'])}) at {value(tobit['model_id'], term)} (posterior mean, "
                        f"95% credible interval): the linear estimate is off by {diff:+.3f}.")
                for ref in refs:
                    if (ref["model_id"], term) in est.index:
                        text += (f" The same linear model on the uncensored index "
                                 f"{report.labels.get(ref['outcome'], ref['outcome'])} ({report.label(ref['model_id'])}"
                                 f"), which the Tobit should reproduce, gives {value(ref['model_id'], term)}.")
                parts.append(f"<p>{html.escape(text)}</p>")
            header = ["term", "linear, censored outcome", "Tobit"] + [f"linear, uncensored {html.escape(r['outcome'])}"
                                                                        for r in refs]
            rows = [[html.escape(tbl.term_label(t, report.labels)), value(lin["model_id"], t),
                     value(tobit["model_id"], t)]
                    + [value(r["model_id"], t) if (r["model_id"], t) in est.index else "" for r in refs]
                    for t in common]
            parts.append(_plain_table(header, rows))
    if not parts:
        return ""
    return ("<p><strong>What the zeros do to a linear model.</strong> A linear model treats the censored zeros as "
            "ordinary values; the Tobit treats them as inclinations at or below zero. Estimates with 95% intervals "
            "(the Tobit's on the latent scale, like the linear model's on an uncensored outcome):</p>"
            + "".join(parts))


# Each headline: a function of the Report returning HTML ("" = nothing to say). The summary shows them in order.
HEADLINES: list[Callable[[Report], str]] = [headline_channel, headline_interdependence, headline_censoring]


def section_summary(report: Report) -> str:
    parts = []
    if report.dataset == "demo":
        parts.append(
            "<p class='notice'><strong>The outcome in this demo is simulated.</strong> States, land borders and "
            "capitals are real (GeoNames, Natural Earth); the <code>bloc</code> channel and the covariates are "
            "synthetic; contributions are drawn from a two-channel spatial-lag process with known parameters "
            "(data/demo/truth.json). The estimates below are shown beside those true values. Nothing here is a "
            "finding about real peacekeeping.</p>")
    outcomes = sorted({report.labels.get(f["outcome"], f["outcome"]) for f in report.fits})
    facts = [f"<li><strong>Data:</strong> {html.escape(report.codebook_summary or report.dataset)}</li>",
             f"<li><strong>Outcome{'s' if len(outcomes) > 1 else ''}:</strong> "
             f"{html.escape('; '.join(outcomes))}</li>"]
    desc = _read(report, "descriptives.csv")
    if desc is not None and len(desc):
        samples = desc.groupby("sample", sort=True).agg(states=("states", "first"), years=("years", "first"),
                                                          n=("n", "max"), models=("models", "first"))
        items = "".join(f"<li>{r.states} states, {html.escape(str(r.years))}, N = {int(r.n):,}: "
                        f"{html.escape(r.models)}</li>" for r in samples.itertuples())
        facts.append(f"<li><strong>Estimation samples:</strong><ul>{items}</ul></li>")
    facts.append(f"<li><strong>Models:</strong> {len(report.fits)} in {len(report.table_names)} regression "
                 f"table(s); details in <a href='#models'>Models</a>.</li>")
    parts.append(f"<div class='summary'><ul>{''.join(facts)}</ul></div>")
    parts += [h for h in (headline(report) for headline in HEADLINES) if h]
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------- the sections


def section_truth(report: Report) -> str:
    if "truth" not in report.figure_names:
        return ""
    numbers = read_table(report.tables_dir / "truth.csv")
    return (_table_section(report, f"Demo: {report.label(report.truth_model)} against the truth", "truth",
                           tbl.to_html(tbl.truth_display(numbers, report.labels)))
            + _figure(report, "truth"))


def section_channel_choice(report: Report) -> str:
    """Which channel? tables/channel_choice and its figure (``outputs.channel_choice``), before the regressions."""
    if not report.channel_choice:
        return ""
    choice = read_table(report.tables_dir / "channel_choice.csv")
    out = _table_section(report, "Posterior probabilities of the candidate channels", "channel_choice",
                         tbl.to_html(tbl.channel_choice_display(choice), tbl.channel_choice_note(choice)))
    bma = _read(report, "channel_bma.csv")
    if bma is not None:
        body = "".join(tbl.to_html(d, note, caption=cap) for cap, d, note in tbl.channel_bma_parts(bma, report.labels))
        out += _table_section(report, "Estimates averaged over the candidate channels", "channel_bma",
                              "<p>Averaging weighs each candidate's estimates by how probable the data make it, so "
                              "that the conclusions do not depend on picking a single channel when several are "
                              "plausible.</p>" + _absorbed_channel_warning(choice, bma) + body)
    return out + _figure(report, "channel_choice")


def _absorbed_channel_warning(choice: pd.DataFrame, bma: pd.DataFrame) -> str:
    """A notice where a channel the effects nearly absorb (sd(W y) / sd(y) below
    :data:`~interdep.outputs.tables.CHANNEL_CHOICE_ABSORBED`) is more likely in than out of a model type's average:
    there the averaged rho and the indirect and total impacts rest on a weakly identified rho."""
    absorbed = set(choice.loc[choice["wy_sd_ratio"] < tbl.CHANNEL_CHOICE_ABSORBED, "channels"])
    heavy = bma[(bma["quantity"] == "inclusion") & bma["channel"].isin(absorbed) & (bma["estimate"] > 0.5)]
    if heavy.empty:
        return ""
    where = "; ".join(f"{r.channel} in the {r.model_type.upper()} average (inclusion {r.estimate:.2f})"
                      for r in heavy.itertuples())
    return ("<p class='notice'>A channel whose W·y the fixed effects nearly absorb carries weight here: "
            f"{html.escape(where)}. Its rho is weakly identified, so the averaged rho and the indirect and total "
            "impacts of that model type rest on it; its inclusion probabilities and direct impacts are the numbers "
            "to read.</p>")


def section_regressions(report: Report) -> str:
    parts = []
    estimators = {f["model_id"]: f["estimator"] for f in report.fits}
    for name in report.table_names:
        body = (report.tables_dir / f"regression_{name}.html").read_text()
        if any(estimators.get(m) in CENSORED_ESTIMATORS for m in report.table_models.get(name, ())):
            parts.append(f"<p>{html.escape(CENSORED_NOTE)}</p>")
        parts.append(_table_section(report, f"Regression table {name}", "regression", body))
    return "\n".join(parts)


def section_impacts(report: Report) -> str:
    impacts = read_table(report.tables_dir / "impacts.csv")
    fits = {f["model_id"]: f for f in report.fits}
    parts = tbl.impacts_parts(impacts, report.model_labels, fits)
    body = "".join(tbl.to_html(d, note, caption=cap, header=d.attrs.get("header")) for cap, d, note in parts)
    out = _table_section(report, "Impacts", "impacts", body)
    if "impacts" in report.figure_names:
        out += _figure(report, "impacts")
    return out


def section_diagnostics(report: Report) -> str:
    numbers = read_table(report.tables_dir / "diagnostics.csv")
    if not len(numbers):
        return ""
    return _table_section(report, "Spatial diagnostics", "diagnostics",
                          tbl.to_html(tbl.diagnostics_display(numbers, report.model_labels)))


PLACED_FIGURES = {"truth", "impacts", "channel_choice"}  # drawn inside another section


def section_figures(report: Report) -> str:
    return "\n".join(_figure(report, name) for name in report.figure_names if name not in PLACED_FIGURES)


def section_data(report: Report) -> str:
    weights = read_table(report.tables_dir / "weights.csv")
    desc = read_table(report.tables_dir / "descriptives.csv")
    body = "".join(tbl.to_html(d, note, caption=cap) for cap, d, note in tbl.descriptives_parts(desc))
    return (_table_section(report, "Descriptive statistics", "descriptives", body)
            + _table_section(report, "Weight graphs", "weights",
                             tbl.to_html(tbl.weights_display(weights), tbl.WEIGHTS_NOTE)))


def section_coverage(report: Report) -> str:
    """Which years each source, channel and model covers (tables/coverage.csv)."""
    if report.coverage is None:
        return ""
    from interdep.panel.coverage import coverage_summary

    return _table_section(report, "Coverage", "coverage", tbl.to_html(coverage_summary(report.coverage)))


def section_sources_comparison(report: Report) -> str:
    """Two contribution sources over their common years (panel.combine), with the years they differ too much."""
    if report.comparison is None:
        return ""
    from interdep.panel.real import comparison_summary, comparison_warnings

    warnings = comparison_warnings(report.comparison, report.warn_share)
    warn = "".join(f"<p class='warn'>Warning: {html.escape(w)}</p>" for w in warnings)
    return warn + _table_section(report, "Contribution sources compared (table − IPI)", "sources_comparison",
                                 tbl.to_html(comparison_summary(report.comparison)))


def section_dropped(report: Report) -> str:
    """Contributions the config dropped (panel.nonmember: drop), each source row and why; "" when none."""
    dropped = report.dropped
    if dropped is None:
        return ""
    total = f"{len(dropped)} row(s), {dropped['contrib_total'].sum():g} personnel" if len(dropped) else "none"
    return _table_section(report, f"Contributions dropped: {total}", "dropped", tbl.to_html(dropped))


def section_models(report: Report) -> str:
    """Every model: its label, estimator, sample, whether it converged, its tables; notes said once, numbered."""
    notes: list[str] = []
    in_tables = {m: [n for n, ids in report.table_models.items() if m in ids] for m in (f["model_id"] for f in
                                                                                         report.fits)}
    rows = []
    for f in report.fits:
        marks = []
        for note in map(str, f.get("notes", [])):
            if note not in notes:
                notes.append(note)
            marks.append(str(notes.index(note) + 1))
        status = "yes" if f.get("converged", True) else '<span class="warn">NO</span>'
        tables = html.escape(", ".join(in_tables[f["model_id"]])) or '<span class="warn">none</span>'
        rows.append([f"{html.escape(report.label(f['model_id']))}<br><code class='id'>{html.escape(f['model_id'])}"
                     "</code>", html.escape(tbl.estimator_name(f)), html.escape(", ".join(f["weights"])),
                     html.escape(tbl.EFFECT_LABELS.get(f["effects"], f["effects"])), f"{f['n_obs']:,}", status,
                     tables, f"{f.get('seconds', 0):.1f}", ", ".join(marks)])
    out = _plain_table(["model (id)", "estimator", "channels", "fixed effects", "N", "converged", "in tables",
                        "seconds", "notes"], rows)
    orphans = [report.label(m) for m, names in in_tables.items() if not names]
    if orphans:
        out += (f"<p class='warn'>Estimated but in no regression table (<code>outputs.tables</code>): "
                f"{html.escape(', '.join(orphans))}. Their numbers are in models/&lt;id&gt;/coefficients.csv.</p>")
    if notes:
        out += "<ol class='note'>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ol>"
    return out


def section_provenance(report: Report) -> str:
    record = report.provenance
    git = record.get("git", {})
    versions = ", ".join(f"{k} {v}" for k, v in record.get("packages", {}).items())
    root = record.get("raw_dir")
    rows = [[html.escape(k), f"{html.escape(str(v))[:16]}…"] for k, v in record.get("inputs", {}).items()]
    dirty = " (with uncommitted changes)" if git.get("dirty") else ""
    seeds = "; ".join(f"{html.escape(k)}: {v}" for k, v in record.get("seeds", {}).items())
    where = f" under <code>raw_dir</code> = <code>{html.escape(str(root))}</code>" if root else ""
    return (f"<p>Commit <code>{html.escape(str(git.get('commit')))}</code>{dirty}; Python {record.get('python')}; "
            f"lock file sha256 <code>{html.escape(str(record.get('lock_file', {}).get('sha256')))[:16]}…</code>.</p>"
            f'<p class="note">{html.escape(versions)}</p>'
            f"<p>Input files{where} (first 16 hex digits of each sha256; the full ones are in provenance.json):</p>"
            + _plain_table(["input file", "sha256"], rows, ["path", "hash"])
            + f'<p class="note">Seeds: {seeds}. The full record, with the resolved config, is provenance.json '
            "beside this page.</p>")


# (anchor, title, section function). A section returning "" is left out, with its entry in the contents.
SECTIONS: list[tuple[str, str, Callable[[Report], str]]] = [
    ("summary", "Summary", section_summary),
    ("truth", "Estimates against the truth", section_truth),
    ("channel", "Which channel?", section_channel_choice),
    ("regressions", "Regression tables", section_regressions),
    ("impacts", "Impacts", section_impacts),
    ("diagnostics", "Spatial diagnostics", section_diagnostics),
    ("figures", "Figures", section_figures),
    ("data", "Data and weights", section_data),
    ("coverage", "Data coverage", section_coverage),
    ("sources", "Contribution sources compared", section_sources_comparison),
    ("dropped", "Contributions dropped", section_dropped),
    ("models", "Models", section_models),
    ("provenance", "Provenance", section_provenance),
]


def codebook_summary(codebook: str | Path) -> str:
    """"<panel>: <rows> rows (state-years), <states> states, years <first>-<last>" from a codebook.md."""
    lines = [line for line in Path(codebook).read_text().splitlines() if line.strip()]
    title = lines[0].removeprefix("# Codebook:").strip() if lines else ""
    facts = lines[1].split(". Key")[0] if len(lines) > 1 and not lines[1].startswith("|") else ""
    return f"{title}: {facts}" if title and facts else title or facts


def render_report(*, dataset: str, table_names: Sequence[str], figure_names: Sequence[str],
                  tables_dir: str | Path, figures_dir: str | Path, fits: Sequence[dict],
                  provenance: Mapping, truth_model: str | None = None,
                  model_labels: Mapping[str, str] | None = None,
                  table_models: Mapping[str, Sequence[str]] | None = None,
                  codebook: str | Path | None = None, dropped: pd.DataFrame | None = None,
                  coverage: pd.DataFrame | None = None, comparison: pd.DataFrame | None = None,
                  warn_share: float = 0.05, channel_choice: bool = False) -> str:
    """The whole page as a string: title, contents, then every section of ``SECTIONS`` that has something."""
    report = Report(dataset=dataset, table_names=list(table_names), figure_names=list(figure_names),
                    tables_dir=Path(tables_dir), figures_dir=Path(figures_dir), fits=list(fits),
                    provenance=provenance, truth_model=truth_model, model_labels=dict(model_labels or {}),
                    table_models=dict(table_models or {}), dropped=dropped,
                    coverage=coverage, comparison=comparison, warn_share=warn_share,
                    channel_choice=channel_choice)
    if codebook:
        report.labels = tbl.read_labels(codebook)
        report.codebook_summary = codebook_summary(codebook)
    built = [(anchor, title, fn(report)) for anchor, title, fn in SECTIONS]
    built = [(anchor, title, body) for anchor, title, body in built if body]
    contents = "".join(f"<li><a href='#{a}'>{html.escape(t)}</a></li>" for a, t, _ in built)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>interdep report: {dataset}"
             f"</title><style>{STYLE}</style></head><body>",
             f"<h1>interdep report: <code>{html.escape(dataset)}</code></h1>",
             f"<nav><strong>Contents</strong><ol>{contents}</ol></nav>"]
    parts += [f"<h2 id='{a}'>{html.escape(t)}</h2>\n{body}" for a, t, body in built]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def figure_and_table_map() -> pd.DataFrame:
    """Every table and figure with its rule, script, output file and config keys (for the README)."""
    rows = [("table", file := ("regression_<table>" if name == "regression" else name), rule, script,
             TABLE_FILES.get(name, f"results/<dataset>/tables/{file}.md|tex|csv"
                             + ("|html" if name == "regression" else "")), keys)
            for name, (_, rule, script, keys) in TABLES.items()]
    rows += [("figure", name.replace("{channel}", "<channel>"), rule, script,
              f"results/<dataset>/figures/{name.replace('{channel}', '<channel>')}.png|pdf", keys)
             for name, (_, rule, script, keys) in FIGURES.items()]
    return pd.DataFrame(rows, columns=["kind", "name", "rule", "script", "output", "config keys"])
