"""The panel stage: one state-year table keyed by (ccode, year), whatever the source, plus its codebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interdep.config import resolve_source
from interdep.errors import InputError
from interdep.io import read_table
from interdep.panel.contributions import MAX_PERSONNEL

KEY = ["ccode", "year"]
OUTCOME_COUNTS = ["troops", "police", "experts", "contrib_total"]

CODEBOOK_COLUMNS = ["column", "label", "unit", "source", "transformation"]

DEMO_CODEBOOK = [
    ("ccode", "COW country code", "code", "countries.csv (curated)", "Natural Earth ISO3 matched to COW"),
    ("iso3", "ISO 3166-1 alpha-3", "code", "Natural Earth 1:110m", "France, Norway fixed from '-99'"),
    ("year", "Year", "year", "-", "-"),
    ("contrib_total", "Personnel contributed (simulated)", "persons", "simulated",
     "round(expm1(log_contrib)), censored at 0"),
    ("contributed", "Contributed any personnel (simulated)", "0/1", "simulated", "contrib_total > 0"),
    ("log_contrib", "Contribution index (simulated latent log scale)", "log persons", "simulated",
     "drawn from the two-channel spatial-lag process in truth.json"),
    ("log_contrib_censored", "Contribution index censored at 0 (simulated)", "log persons", "simulated",
     "max(log_contrib, 0): the index as a Tobit model observes it"),
    ("contrib_share", "Share of the world total (simulated)", "fraction", "simulated", "contrib_total / yearly sum"),
    ("gdppc", "GDP per capita (simulated)", "USD", "simulated, anchored on Natural Earth gdp_md_est / pop_est",
     "exp(log_gdppc)"),
    ("log_gdppc", "log GDP per capita (simulated)", "log USD", "simulated", "trend + random walk"),
    ("pop", "Population (simulated)", "persons", "simulated, anchored on Natural Earth pop_est", "exp(log_pop)"),
    ("log_pop", "log population (simulated)", "log persons", "simulated", "trend"),
    ("polity2", "Regime score, polity2-like (simulated)", "-10..10", "simulated", "persistent with 5% jumps"),
]


def build_panel(options: dict[str, Any], raw_dir: str | Path = ".") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the panel named by ``options["source"]`` and return it with its codebook table.

    Relative source paths in ``options`` are read from ``raw_dir`` (the Snakemake rule passes absolute ones).

    Real sources are checked beforehand by the ``verify_sources`` rule (:func:`interdep.panel.sources.verify_sources`).

    Returns ``(panel, codebook)``; the codebook has columns ``column, label, unit, source, transformation``.
    """
    source = options["source"]
    if source == "demo":
        path = resolve_source(raw_dir, options.get("file", "panel.csv"), key="panel.file")
        panel = read_table(path)
        codebook = pd.DataFrame(DEMO_CODEBOOK, columns=CODEBOOK_COLUMNS)
        file = str(path)
    else:
        from interdep.panel.real import build_real_panel
        panel, codebook = build_real_panel(Path(raw_dir), options)
        file = f"panel built from {raw_dir}"
    validate_panel(panel, file)
    return panel.sort_values(KEY).reset_index(drop=True), codebook


def dropped_table(panel: pd.DataFrame) -> pd.DataFrame:
    """dropped.csv: the source rows left out under ``panel.nonmember: drop``, and why (empty for the demo)."""
    from interdep.panel.real import DROPPED_COLUMNS

    return pd.DataFrame(panel.attrs.get("dropped", []), columns=DROPPED_COLUMNS)


def dropped_summary(path: str | Path) -> str:
    """The console line at the end of a run that dropped contributions (``panel.nonmember: drop``)."""
    dropped = read_table(path)
    if dropped.empty:
        return f"interdep: no contribution rows dropped (panel.nonmember: drop; {path} is empty)"
    return (f"interdep: {len(dropped)} contribution row(s) with {dropped['contrib_total'].sum():g} personnel "
            f"dropped under panel.nonmember: drop, {dropped['year'].min()}-{dropped['year'].max()}; each row and "
            f"why: {path} (and the report)")


def validate_panel(panel: pd.DataFrame, file: str) -> None:
    """Refuse a panel with missing or duplicated keys or negative / non-numeric counts; name row and value."""
    for column in KEY:
        if column not in panel.columns:
            raise InputError("panel has no key column", file=file, row="header", value=column)
        bad = pd.to_numeric(panel[column], errors="coerce").isna()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{column} is missing or not an integer", file=file, row=row + 2,
                             value=panel[column].iloc[row])
    duplicated = panel.duplicated(KEY, keep=False)
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise InputError("duplicate (ccode, year)", file=file, row=row + 2,
                         value=tuple(panel.loc[panel.index[row], KEY]))
    for column in [c for c in OUTCOME_COUNTS if c in panel.columns]:
        values = pd.to_numeric(panel[column], errors="coerce")
        bad = (values.isna() & panel[column].notna()) | (values < 0) | (values.abs() > MAX_PERSONNEL)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = panel[column].iloc[row]
            raise InputError(f"{column} must be a non-negative number (finite, at most {MAX_PERSONNEL:,})",
                             file=file, row=row + 2,
                             value=value.item() if isinstance(value, np.generic) else value)


def states_by_year(panel: pd.DataFrame) -> dict[int, list[int]]:
    """The panel's states in each year, sorted: the ids of that year's weight graphs."""
    return {int(y): sorted(int(c) for c in g) for y, g in panel.groupby("year")["ccode"]}
