"""Snakemake rule `montecarlo_chunk`: simulate and fit one chunk of replications of one design."""

from interdep.montecarlo import write_chunk
from interdep.workflow import logged

with logged(snakemake.log[0]) as log:
    p = snakemake.params
    frame = write_chunk(p.design, p.estimators, int(snakemake.wildcards.chunk), replications=p.replications,
                        chunk_size=p.chunk_size, seed=p.seed, level=p.level, path=snakemake.output[0])
    log.info("%d rows, %d failed fits", len(frame), int((frame["error"] != "").sum()))
