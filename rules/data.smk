rule verify_sources:
    message:
        "Checking the source files against {params.sources_table}"
    input:
        SOURCE_FILES,
    output:
        f"{RESULTS}/sources_verified.csv",
    params:
        # where the sources table's relative paths are looked up (not an output prefix)
        raw_dir=lambda wildcards: RAW_DIR,
        sources_table=SOURCES_TABLE,
        verify_checksums=config.get("verify_checksums", True),
    log:
        f"{RESULTS}/logs/verify_sources.log",
    threads: 1
    resources:
        mem_mb=500,
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
        verified=f"{RESULTS}/sources_verified.csv",
    output:
        panel=f"{RESULTS}/panel.csv",
        codebook=f"{RESULTS}/codebook.md",
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
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/build_panel.py"
