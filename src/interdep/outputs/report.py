"""report.html: one self-contained page (figures embedded, no network) with every table and figure, each captioned
with what it shows and which rule and config entry made it, and the provenance of the run."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
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
    "moran_scatter_{channel}": ("Moran scatter of the outcome on one channel in the map year; slope = Moran's I.",
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
    "channel_choice": ("Which channel? Posterior probability of each candidate channel and model type, and the "
                       "posterior of each channel's share gamma in every sar_conv model.",
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


TABLES = {
    "regression": ("Regression table: models side by side (one per `outputs.tables` entry).",
                   "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py", "models, outputs.tables"),
    "impacts": ("Direct, indirect and total impacts with simulated standard errors and 95% intervals.",
                "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py", "models, seed"),
    "diagnostics": ("Spatial diagnostics of OLS residuals: LM error, LM lag, their robust forms, SARMA, Moran's I.",
                    "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py", "models (estimator: ols)"),
    "descriptives": ("Descriptive statistics of the panel.", "panel, tables",
                     "scripts/build_panel.py, scripts/make_tables.py", "panel"),
    "weights": ("Weight graphs per channel: size, links, islands, components, admissible rho.",
                "weights, tables", "scripts/build_weights.py, scripts/make_tables.py", "channels"),
    "truth": ("Demo only: estimates beside the true values, and whether the 95% interval covers them.",
              "fit_model, tables", "scripts/fit_model.py, scripts/make_tables.py",
              "outputs.truth, outputs.truth_model"),
    "channel_choice": ("Which channel? Flat-prior log-marginal likelihood and posterior probability of each "
                       "candidate channel and model type, with the posterior of its spatial parameter.",
                       "channel_choice", "scripts/channel_choice.py", "outputs.channel_choice"),
}

STYLE = """
body{font-family:Georgia,serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1,h2,h3{font-family:Helvetica,Arial,sans-serif} table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{padding:.15rem .6rem;border-bottom:1px solid #ddd;text-align:right} th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #444} .note,.made{font-size:.8rem;color:#555} img{max-width:100%}
.notice{background:#fff4d6;border-left:4px solid #E69F00;padding:.5rem 1rem} code{font-size:.85rem}
figure{margin:1.5rem 0} .warn{color:#b00}
"""


def _made_by(rule: str, script: str, keys: str) -> str:
    return (f'<p class="made">Made by rule <code>{html.escape(rule)}</code> ({html.escape(script)}); '
            f"config: <code>{html.escape(keys)}</code>.</p>")


def _figure(path: Path, name: str) -> str:
    caption, rule, script, keys = figure_info(name)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure id="fig-{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption>{_made_by(rule, script, keys)}</figure>")


def _table_section(title: str, kind: str, body: str) -> str:
    caption, rule, script, keys = TABLES[kind]
    return f"<h3>{html.escape(title)}</h3><p>{html.escape(caption)}</p>{body}{_made_by(rule, script, keys)}"


def _model_facts(fits: Sequence[dict]) -> str:
    rows = []
    for f in fits:
        status = "yes" if f.get("converged", True) else '<span class="warn">NO</span>'
        notes = "; ".join(html.escape(str(n)) for n in f.get("notes", []))
        rows.append(f"<tr><td>{html.escape(f['model_id'])}</td><td>{html.escape(f['estimator'])}</td>"
                    f"<td>{html.escape(', '.join(f['weights']))}</td><td>{html.escape(f['effects'])}</td>"
                    f"<td>{f['n_obs']}</td><td>{status}</td><td>{f.get('seconds', 0):.2f}</td>"
                    f"<td style='text-align:left'>{notes}</td></tr>")
    return ("<table><thead><tr><th>model</th><th>estimator</th><th>weights</th><th>effects</th><th>N</th>"
            "<th>converged</th><th>seconds</th><th>notes</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _provenance(record: Mapping) -> str:
    git = record.get("git", {})
    versions = ", ".join(f"{k} {v}" for k, v in record.get("packages", {}).items())
    inputs = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td><code>{v}</code></td></tr>"
                     for k, v in record.get("inputs", {}).items())
    dirty = " (with uncommitted changes)" if git.get("dirty") else ""
    return (f"<p>Commit <code>{html.escape(str(git.get('commit')))}</code>{dirty}; Python {record.get('python')}; "
            f"lock file sha256 <code>{html.escape(str(record.get('lock_file', {}).get('sha256')))}</code>.</p>"
            f'<p class="note">{html.escape(versions)}</p>'
            f"<table><thead><tr><th>input file</th><th>sha256</th></tr></thead><tbody>{inputs}</tbody></table>"
            f'<p class="note">Seeds: {html.escape(json.dumps(record.get("seeds", {})))}. The full record, with the '
            "resolved config, is provenance.json beside this page.</p>")


def render_report(*, dataset: str, table_names: Sequence[str], figure_names: Sequence[str],
                  tables_dir: str | Path, figures_dir: str | Path, fits: Sequence[dict],
                  provenance: Mapping, truth_model: str | None = None, channel_choice: bool = False) -> str:
    """The whole page as a string (``channel_choice``: open with tables/channel_choice and its figure)."""
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>interdep report: {dataset}"
             f"</title><style>{STYLE}</style></head><body>",
             f"<h1>interdep report: <code>{html.escape(dataset)}</code></h1>"]
    if dataset == "demo":
        parts.append(
            "<p class='notice'><strong>The outcome in this demo is simulated.</strong> States, land borders and "
            "capitals are real (GeoNames, Natural Earth); the <code>bloc</code> channel and the covariates are "
            "synthetic; contributions are drawn from a two-channel spatial-lag process with known parameters "
            "(data/demo/truth.json). The estimates below are shown beside those true values. Nothing here is a "
            "finding about real peacekeeping.</p>")
    if "truth" in figure_names:
        numbers = read_table(tables_dir / "truth.csv")
        parts += ["<h2>Estimates against the truth</h2>",
                  _table_section(f"Model {truth_model}", "truth", tbl.to_html(numbers)),
                  _figure(figures_dir / "truth.png", "truth")]
    if channel_choice:
        choice = read_table(tables_dir / "channel_choice.csv")
        parts += ["<h2>Which channel?</h2>",
                  _table_section("Posterior probabilities of the candidate channels", "channel_choice",
                                 tbl.to_html(tbl.channel_choice_display(choice), tbl.channel_choice_note(choice))),
                  _figure(figures_dir / "channel_choice.png", "channel_choice")]
    parts.append("<h2>Regression tables</h2>")
    for name in table_names:
        body = (tables_dir / f"regression_{name}.html").read_text()
        parts.append(_table_section(f"Table: {name}", "regression", body))
    impacts = read_table(tables_dir / "impacts.csv")
    parts.append(_table_section("Impacts", "impacts", tbl.to_html(tbl.impacts_display(impacts))))
    parts.append(_table_section("Spatial diagnostics", "diagnostics",
                                tbl.to_html(read_table(tables_dir / "diagnostics.csv"))))
    parts.append("<h2>Figures</h2>")
    parts += [_figure(figures_dir / f"{name}.png", name) for name in figure_names if name != "truth"]
    parts.append("<h2>Data and weights</h2>")
    parts.append(_table_section("Weight graphs", "weights", tbl.to_html(read_table(tables_dir / "weights.csv"))))
    desc = read_table(tables_dir / "descriptives.csv").drop(columns="column")
    parts.append(_table_section("Descriptive statistics", "descriptives", tbl.to_html(desc)))
    parts += ["<h2>Models</h2>", _model_facts(fits), "<h2>Provenance</h2>", _provenance(provenance),
              "</body></html>\n"]
    return "\n".join(parts)


def figure_and_table_map() -> pd.DataFrame:
    """Every table and figure with its rule, script, output file and config keys (for the README)."""
    rows = [("table", file := ("regression_<table>" if name == "regression" else name), rule, script,
             f"results/<dataset>/tables/{file}.md|tex|csv" + ("|html" if name == "regression" else ""), keys)
            for name, (_, rule, script, keys) in TABLES.items()]
    rows += [("figure", name.replace("{channel}", "<channel>"), rule, script,
              f"results/<dataset>/figures/{name.replace('{channel}', '<channel>')}.png|pdf", keys)
             for name, (_, rule, script, keys) in FIGURES.items()]
    return pd.DataFrame(rows, columns=["kind", "name", "rule", "script", "output", "config keys"])
