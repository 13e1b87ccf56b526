rule verify_sources:
    message:
        "Checking the {wildcards.group} source files against {params.sources_table}"
    input:
        lambda wildcards: VERIFY_GROUPS[wildcards.group],
    output:
        f"{RESULTS}/verified/{{group}}.csv",
    params:
        # where the sources table's relative paths are looked up (not an output prefix)
        raw_dir=lambda wildcards: RAW_DIR,
        sources_table=SOURCES_TABLE,
        verify_checksums=config.get("verify_checksums", True),
    log:
        f"{RESULTS}/logs/verify_sources_{{group}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 500 * attempt,
        runtime=5,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/verify_sources.py"


rule panel:
    message:
        "Building the state-year panel"
    input:
        **PANEL_SOURCES,
        verified=f"{RESULTS}/verified/panel.csv",
    output:
        panel=f"{RESULTS}/panel.csv",
        codebook=f"{RESULTS}/codebook.md",
        **({"dropped": DROPPED_FILE} if DROPPED_FILE else {}),
        **COMPARISON_FILES,
    params:
        panel=config["panel"],
        source_keys=list(PANEL_SOURCES),
        dataset=config["dataset"],
    log:
        f"{RESULTS}/logs/panel.log",
    benchmark:
        f"{RESULTS}/benchmarks/panel.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/build_panel.py"

