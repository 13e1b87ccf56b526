"""Snakemake rule `panel`: sources -> panel.csv + codebook.md."""

import sys

import pandas as pd

from interdep.io import write_table, write_text
from interdep.outputs.tables import to_markdown
from interdep.panel.build import build_panel, dropped_table
from interdep.panel.codebook import render_codebook
from interdep.panel.real import comparison_summary, comparison_warnings
from interdep.workflow import logged
from interdep.workflow_inputs import panel_options_with_files

with logged(snakemake.log[0]) as log:
    p = snakemake.params
    sources = {key: snakemake.input[key] for key in p.source_keys}
    panel, codebook = build_panel(panel_options_with_files(p.panel, sources))
    log.info("panel: %d rows, %d states", len(panel), panel["ccode"].nunique())
    write_text(render_codebook(codebook, panel, title=f"{p.dataset} panel"), snakemake.output.codebook)
    if snakemake.output.get("dropped"):
        write_table(dropped_table(panel), snakemake.output.dropped)
    write_table(panel, snakemake.output.panel)
    if p.panel.get("combine"):  # the two contribution sources compared; a warning on the console too
        comparison = pd.DataFrame(panel.attrs["sources_comparison"])
        warnings = comparison_warnings(comparison, p.panel["combine"].get("warn_share", 0.05))
        for line in warnings:
            print(f"interdep: WARNING: {line}", file=sys.__stderr__)
        write_table(comparison, snakemake.output.comparison_csv)
        note = "Warnings:\n\n" + "\n".join(f"- {w}" for w in warnings) if warnings else ""
        write_text("# Contribution sources compared (table - IPI)\n\n"
                   + to_markdown(comparison_summary(comparison), note), snakemake.output.comparison_md)
