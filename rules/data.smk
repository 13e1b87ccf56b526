rule panel:
    message:
        "Building the state-year panel from {params.raw_dir}"
    input:
        sources=panel_source_files(config["panel"], RAW_DIR),
    output:
        panel=f"{RESULTS}/panel.csv",
        codebook=f"{RESULTS}/codebook.md",
    params:
        panel=config["panel"],
        raw_dir=RAW_DIR,
        verify_checksums=config.get("verify_checksums", True),
        sources_table="data/sources.csv",
        dataset=config["dataset"],
    log:
        f"{RESULTS}/logs/panel.log",
    benchmark:
        f"{RESULTS}/benchmarks/panel.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/build_panel.py"
