"""Snakemake rule `montecarlo_summary`: all chunks -> replications, summary table (bias, RMSE, coverage), figure."""

from interdep.montecarlo import write_summary
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p, out = snakemake.params, snakemake.output
    write_summary(list(snakemake.input), replications=p.replications, level=p.level, figure_terms=p.figure_terms,
                  replications_path=out.replications, csv_path=out.csv, md_path=out.md, png_path=out.png,
                  pdf_path=out.pdf)
