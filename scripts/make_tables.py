"""Snakemake rule `tables`: regression, impacts, descriptive, weights (and demo truth) tables."""

import json
from pathlib import Path

from interdep.io import read_table
from interdep.outputs.tables import write_tables
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    write_tables(
        model_dirs=[str(Path(f).parent) for f in snakemake.input.fits],
        tables=p.tables,
        codebook=snakemake.input.codebook,
        panel=read_table(snakemake.input.panel),
        weights_summaries={
            c: read_table(f) for c, f in zip(p.channels, snakemake.input.weights_summaries, strict=True)
        },
        out_dir=Path(snakemake.output[0]).parent,
        truth=json.loads(Path(snakemake.input.truth[0]).read_text()) if snakemake.input.truth else None,
        truth_model=p.truth_model,
        model_labels=p.model_labels,
    )
