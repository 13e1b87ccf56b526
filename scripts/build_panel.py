"""Snakemake rule `panel`: sources -> panel.csv + codebook.md."""

from interdep.io import write_table, write_text
from interdep.panel.build import build_panel, dropped_table
from interdep.panel.codebook import render_codebook
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
