"""Snakemake rule `coverage`: which years each source and channel covers, which each model can use
-> tables/coverage.csv; stops before any fitting when a model's years exceed its sources."""

from interdep.io import read_table, write_table
from interdep.panel.coverage import check_models, column_sources, coverage_table
from interdep.workflow import logged

with logged(snakemake.log[0]) as log:
    p = snakemake.params
    summaries = {c: read_table(f) for c, f in zip(p.channels, snakemake.input.summaries, strict=True)}
    table = coverage_table(read_table(snakemake.input.panel), summaries, p.models,
                           sources=column_sources(p.panel), gaps=p.gaps, channel_sources=p.channel_sources)
    check_models(table, p.models, p.gaps)
    usable = table[table["kind"] == "model"].groupby("name")["covered"].sum()
    log.info("years each model can use:\n%s", usable.to_string())
    write_table(table, snakemake.output[0])
