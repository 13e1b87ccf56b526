"""Snakemake rule `panel`: sources -> panel.csv + codebook.md."""

from interdep.io import write_table, write_text
from interdep.panel.build import build_panel
from interdep.panel.codebook import render_codebook
from interdep.workflow import logged

with logged(snakemake.log[0]) as log:
    p = snakemake.params
    panel, codebook = build_panel(
        p.panel, p.raw_dir, sources_table=p.sources_table, verify_checksums=p.verify_checksums
    )
    log.info("panel: %d rows, %d states", len(panel), panel["ccode"].nunique())
    write_text(render_codebook(codebook, panel, title=f"{p.dataset} panel"), snakemake.output.codebook)
    write_table(panel, snakemake.output.panel)
