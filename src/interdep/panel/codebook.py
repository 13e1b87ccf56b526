"""codebook.md: every column of the panel with its label, unit, source, transformation and missing count."""

from __future__ import annotations

import pandas as pd


def render_codebook(codebook: pd.DataFrame, panel: pd.DataFrame, title: str) -> str:
    """Markdown codebook; a panel column absent from ``codebook`` is an error (nothing goes undocumented)."""
    undocumented = [c for c in panel.columns if c not in set(codebook["column"])]
    if undocumented:
        raise ValueError(f"panel columns without a codebook entry: {undocumented}")
    rows = codebook.set_index("column").loc[list(panel.columns)].reset_index()
    rows["missing"] = [int(panel[c].isna().sum()) for c in rows["column"]]
    header = (
        f"# Codebook: {title}\n\n"
        f"{len(panel)} rows (state-years), {panel['ccode'].nunique()} states, "
        f"years {int(panel['year'].min())}-{int(panel['year'].max())}. Key: (ccode, year). "
        "Missing values are left missing; `missing` counts them.\n\n"
    )
    lines = ["| column | label | unit | source | transformation | missing |", "|---|---|---|---|---|---:|"]
    for r in rows.itertuples(index=False):
        lines.append(f"| `{r.column}` | {r.label} | {r.unit} | {r.source} | {r.transformation} | {r.missing} |")
    return header + "\n".join(lines) + "\n"
