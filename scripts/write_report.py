"""Snakemake rule `report`: the self-contained report.html."""

import json
from pathlib import Path

from interdep.io import read_table, write_text
from interdep.outputs.report import render_report
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    page = render_report(
        dataset=p.dataset,
        table_names=p.tables,
        figure_names=p.figures,
        tables_dir=Path(snakemake.input.tables[0]).parent,
        figures_dir=Path(snakemake.input.figures[0]).parent,
        fits=[json.loads(Path(f).read_text()) for f in snakemake.input.fits],
        provenance=json.loads(Path(snakemake.input.provenance).read_text()),
        truth_model=p.truth_model,
        dropped=read_table(snakemake.input.dropped) if snakemake.input.get("dropped") else None,
        model_labels=p.model_labels,
        table_models=p.table_models,
        codebook=snakemake.input.codebook,
        coverage=read_table(snakemake.input.coverage),
        comparison=read_table(snakemake.input.comparison[0]) if snakemake.input.comparison else None,
        warn_share=p.warn_share,
        channel_choice=bool(snakemake.input.channel_choice),
    )
    write_text(page, snakemake.output[0])
