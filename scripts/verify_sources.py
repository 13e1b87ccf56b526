"""Snakemake rule `verify_sources`: every source file the run reads is present and matches its sha256."""

from interdep.io import write_table
from interdep.panel.sources import verify_sources
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    table = verify_sources(p.raw_dir, p.sources_table, verify_checksums=p.verify_checksums, files=snakemake.input)
    write_table(table, snakemake.output[0])
