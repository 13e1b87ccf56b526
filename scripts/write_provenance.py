"""Snakemake rule `provenance`: versions, input checksums, resolved config, git commit, seeds."""

from interdep.io import write_json
from interdep.outputs.provenance import provenance
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    record = provenance(input_files=list(snakemake.input.sources), config=p.config, seed=p.seed,
                        lock_file="requirements.lock", raw_dir=p.config["raw_dir"])
    write_json(record, snakemake.output[0])
