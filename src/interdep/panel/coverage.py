"""Which years each source covers, and which years each model can use (``tables/coverage.csv``).

Generic over the panel's columns and the channels: a panel column covers a year when any state has a value that
year; a channel covers the years its weights were built for (``weights/<channel>_summary.csv``), those carried
past its source (``carry_forward``) marked as such. Years the config declares badly covered by the contributions
source (``panel.contributions.drop_years``) are gaps: the models skip them. A model whose years reach beyond what
its outcome, regressors or channels cover stops before any fitting (:func:`check_models`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from interdep.errors import InputError

COLUMNS = ["kind", "name", "source", "year", "covered", "detail"]
KEYS = ("ccode", "iso3", "year")


def coverage_table(panel: pd.DataFrame, summaries: Mapping[str, pd.DataFrame], models: Sequence[Mapping[str, Any]],
                   *, sources: Mapping[str, str] | None = None, gaps: Sequence[int] = (),
                   channel_sources: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The coverage table: one row per (variable | channel | model, year) over the panel's years.

    Parameters
    ----------
    panel : pandas.DataFrame
        The state-year panel.
    summaries : mapping
        channel -> its weights summary (``year``, and ``source_year``/``carried`` when built from a source).
    models : sequence of mappings
        The ``models:`` entries of the config.
    sources : mapping, optional
        panel column -> the source it comes from (the codebook's ``source``), shown in the table.
    channel_sources : mapping, optional
        channel -> the file it is built from, shown in the table.
    gaps : sequence of int
        Years the contributions are declared missing (``drop_years``).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`. ``kind`` is ``variable``, ``channel`` or ``model``; for a model, ``covered`` says whether
        it can use the year and ``detail`` names what is missing (or that the year is a gap).
    """
    sources = dict(sources or {})
    years = sorted(int(y) for y in panel["year"].unique())
    rows = []
    has_value = panel.drop(columns=[c for c in KEYS if c in panel]).notna().groupby(panel["year"]).sum()
    for col in has_value.columns:
        for y in years:
            n = int(has_value.at[y, col])
            detail = "gap: drop_years" if y in gaps and n == 0 else f"{n} states with a value"
            rows.append(("variable", col, sources.get(col, ""), y, n > 0, detail))
    for channel, s in summaries.items():
        built = s.set_index("year")
        for y in years:
            covered = y in built.index
            detail = "not built"
            if covered:
                carried = bool(built.at[y, "carried"]) if "carried" in built else False
                source_year = int(built.at[y, "source_year"]) if "source_year" in built else y
                detail = f"links of {source_year} carried forward" if carried else f"links of {source_year}"
            rows.append(("channel", channel, (channel_sources or {}).get(channel, ""), y, covered, detail))
    table = pd.DataFrame(rows, columns=COLUMNS)
    for model in models:
        rows_m = []
        for y in _model_years(model, years):
            missing = _missing(table, model, y)
            detail = "gap: drop_years" if y in gaps else ("missing: " + ", ".join(missing) if missing else "")
            rows_m.append(("model", model["id"], "", y, not missing and y not in gaps, detail))
        table = pd.concat([table, pd.DataFrame(rows_m, columns=COLUMNS)], ignore_index=True)
    return table


def check_models(coverage: pd.DataFrame, models: Sequence[Mapping[str, Any]], gaps: Sequence[int] = (),
                 first_index: int = 0) -> None:
    """Stop when a model's years include a year (other than a declared gap) its sources do not cover.

    ``first_index``: the position of ``models[0]`` among the config's models (named in the error).

    Raises
    ------
    InputError
        Naming the model, the variable or channel, and the years.
    """
    for index, model in enumerate(models, start=first_index):
        rows = coverage[(coverage["kind"] == "model") & (coverage["name"] == model["id"])]
        bad = rows[~rows["covered"].astype(bool) & ~rows["year"].isin(gaps)]
        if bad.empty:
            continue
        first = bad.iloc[0]["detail"].removeprefix("missing: ").split(", ")[0]
        kind, name = first.split(" ", 1)
        years = _what_misses(coverage, kind, name, bad["year"].tolist())
        last = rows.loc[rows["covered"].astype(bool), "year"]
        hint = f"; it can use {int(last.min())}-{int(last.max())}" if len(last) else ""
        raise InputError(f"model {model['id']!r}: {kind} {name!r} does not cover years {years}{hint}; change the "
                         "model's years (or carry_forward: true on a channel)", row=f"models[{index}].years",
                         value=list(model.get("years", [])) or "all panel years")


def carried_years(summaries: Mapping[str, pd.DataFrame], years: Sequence[int]) -> dict[str, dict[str, int]]:
    """channel -> {year: source year} for the years in ``[years[0], years[-1]]`` built from carried links."""
    out = {}
    for channel, s in summaries.items():
        if "carried" not in s:
            continue
        rows = s[s["carried"].astype(bool) & s["year"].between(years[0], years[-1])]
        if len(rows):
            out[channel] = {str(int(y)): int(sy) for y, sy in zip(rows["year"], rows["source_year"], strict=True)}
    return out


def _model_years(model: Mapping[str, Any], years: list[int]) -> list[int]:
    span = model.get("years") or [years[0], years[-1]]
    return list(range(int(span[0]), int(span[-1]) + 1))


def _missing(table: pd.DataFrame, model: Mapping[str, Any], year: int) -> list[str]:
    needs = [("variable", v) for v in [model["outcome"], *model.get("regressors", [])]]
    needs += [("channel", c) for c in model.get("weights", [])]
    out = []
    for kind, name in needs:
        hit = table[(table["kind"] == kind) & (table["name"] == name) & (table["year"] == year)]
        unknown = kind == "variable" and name not in set(table["name"])  # an unknown column: the fit says so
        if not unknown and (hit.empty or not bool(hit["covered"].iloc[0])):
            out.append(f"{kind} {name}")
    return out


def _what_misses(table: pd.DataFrame, kind: str, name: str, years: list[int]) -> list[int]:
    rows = table[(table["kind"] == kind) & (table["name"] == name) & table["year"].isin(years)]
    return sorted(set(years) - set(rows.loc[rows["covered"].astype(bool), "year"].astype(int)))


def declared_gaps(panel_options: Mapping[str, Any]) -> list[int]:
    """Years whose contributions the config declares missing (``drop_years`` of the table; with ``combine``
    only those after ``ipi_until``)."""
    gaps = [int(y) for y in (panel_options.get("contributions") or {}).get("drop_years") or []]
    if panel_options.get("combine"):
        gaps = [y for y in gaps if y > int(panel_options["combine"]["ipi_until"])]
    return sorted(gaps)


def column_sources(panel_options: Mapping[str, Any]) -> dict[str, str]:
    """panel column -> the source named in the codebook, for the coverage table."""
    if panel_options["source"] == "demo":
        from interdep.panel.build import DEMO_CODEBOOK

        return {row[0]: row[3] for row in DEMO_CODEBOOK}
    from interdep.panel.real import _IPI, CODEBOOK, contributions_label

    label = contributions_label(dict(panel_options))
    return {col: label if entry[2] == _IPI else entry[2] for col, entry in CODEBOOK.items()}


def coverage_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per variable, channel and model: the years covered (usable), as ranges, and the years not."""
    rows = []
    for (kind, name), g in table.groupby(["kind", "name"], sort=False):
        on = g["covered"].astype(bool)
        carried = g.loc[g["detail"].str.contains("carried", na=False), "year"].tolist()
        rows.append({"kind": kind, "name": name, "source": g["source"].iloc[0],
                     "years covered": _ranges(g.loc[on, "year"].tolist()),
                     "years not covered": _ranges(g.loc[~on, "year"].tolist()),
                     "carried forward": _ranges(carried)})
    return pd.DataFrame(rows)


def _ranges(years: Sequence[int]) -> str:
    """[2011, 2012, 2013, 2015] -> '2011-2013, 2015'."""
    years = sorted(int(y) for y in years)
    parts: list[str] = []
    for y in years:
        if parts and int(parts[-1].split("-")[-1]) == y - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{y}"
        else:
            parts.append(str(y))
    return ", ".join(parts)
