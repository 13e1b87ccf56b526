# interdep: raw sources -> panel -> weights (one per channel and year) -> models -> tables, figures, report.
# Run `make run` (the demo) or `snakemake --configfile config/ipi.yaml --config raw_dir=PATH` (real data).
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from interdep.config import check_config_files, check_schema
from interdep.workflow import parse_time_checks

min_version("9.0")


# The config file comes from the profile (profiles/default: config/config.yaml, the demo), so that
# `--configfile config/ipi.yaml` replaces it instead of being merged into the demo's settings.
if not config:
    raise WorkflowError("no config: run with the default profile or give --configfile")


# Config files are data: no python tags, no alias bombs, no YTE (interdep.config.load_config_file). Snakemake has
# read them already; `.venv/bin/interdep` (README) runs the same check before Snakemake reads anything.
with parse_time_checks():
    check_config_files(workflow.overwrite_configfiles)
    check_schema(config, "config/schema.yaml", source=", ".join(map(str, workflow.overwrite_configfiles)) or "config")
validate(config, "config/schema.yaml")  # fills in the schema's defaults


# A config with a `montecarlo:` section is a Monte Carlo study of the estimators (config/montecarlo.yaml).
if "montecarlo" in config:

    include: "rules/montecarlo.smk"

    rule all:
        default_target: True
        input:
            MC_TARGETS,

else:

    include: "rules/common.smk"
    include: "rules/data.smk"
    include: "rules/weights.smk"
    include: "rules/models.smk"
    include: "rules/outputs.smk"

    rule all:
        default_target: True
        input:
            f"{RESULTS}/report.html",
            f"{RESULTS}/provenance.json",

    onsuccess:  # one handler (Snakemake keeps only the last one defined)
        if DROPPED_FILE and Path(DROPPED_FILE).is_file():
            print(dropped_summary(DROPPED_FILE))
        if Path(f"{RESULTS}/report.html").is_file():
            print(f"Report: {RESULTS}/report.html")
