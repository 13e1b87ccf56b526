rule tables:
    message:
        "Writing the regression, impacts, descriptive and weights tables"
    input:
        coefficients=model_files("coefficients.csv"),
        fits=model_files("fit.json"),
        impacts=model_files("impacts.csv"),
        samples=model_files("sample.csv"),
        panel=f"{RESULTS}/panel.csv",
        codebook=f"{RESULTS}/codebook.md",
        weights_summaries=expand(f"{RESULTS}/weights/{{channel}}_summary.csv", channel=CHANNELS),
        truth=[TRUTH_FILE] if TRUTH_FILE else [],
    output:
        TABLE_FILES,
    params:
        tables=TABLES,
        models=list(MODELS),
        model_labels=MODEL_LABELS,
        channels=CHANNELS,
        truth_model=OUTPUTS.get("truth_model"),
    log:
        f"{RESULTS}/logs/tables.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/make_tables.py"


rule figures:
    message:
        "Drawing the figures"
    input:
        panel=f"{RESULTS}/panel.csv",
        codebook=f"{RESULTS}/codebook.md",
        moran=expand(f"{RESULTS}/weights/{{channel}}_moran.csv", channel=CHANNELS),
        edges=expand(f"{RESULTS}/weights/{{channel}}.csv", channel=CHANNELS),
        coefficients=model_files("coefficients.csv"),
        profiles=model_files("profile.csv"),
        impacts=f"{RESULTS}/tables/impacts.csv",
        capitals=CAPITALS_FILE,
        truth=[TRUTH_FILE] if TRUTH_FILE else [],
    output:
        FIGURE_FILES,
    params:
        figures=FIGURES,
        models=list(MODELS),
        channels=CHANNELS,
        map_year=OUTPUTS.get("map_year"),
        outcome=OUTPUTS.get("moran_outcome", "log_contrib"),
        truth_model=OUTPUTS.get("truth_model"),
        dataset=config["dataset"],
        model_labels=MODEL_LABELS,
    log:
        f"{RESULTS}/logs/figures.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/make_figures.py"


rule channel_choice:
    message:
        "Which channel? Log-marginal likelihoods and posterior probabilities of the candidate channels"
    input:
        panel=f"{RESULTS}/panel.csv",
        weights=[f"{RESULTS}/weights/{c}.csv" for c in CHANNEL_CHOICE.get("channels", [])],
        conv_draws=[f"{RESULTS}/models/{m}/draws.parquet" for m in CONV_MODELS],
    output:
        CHANNEL_CHOICE_FILES,
    params:
        spec=CHANNEL_CHOICE,
        conv_models=CONV_MODELS,
        seed=SEED,
    log:
        f"{RESULTS}/logs/channel_choice.log",
    benchmark:
        f"{RESULTS}/benchmarks/channel_choice.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30 * CHANNEL_CHOICE.get("max_subset", 1),  # minutes; subsets of up to 3 of 5 channels: ~25-45
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/channel_choice.py"


rule provenance:
    message:
        "Recording provenance: versions, input checksums, config, commit, seeds"
    input:
        sources=SOURCE_FILES,
        verified=f"{RESULTS}/verified/outputs.csv",
        panel=f"{RESULTS}/panel.csv",
    output:
        f"{RESULTS}/provenance.json",
    params:
        config=config,
        seed=SEED,
    log:
        f"{RESULTS}/logs/provenance.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 500 * attempt,
        runtime=5,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/write_provenance.py"


rule report:
    message:
        "Writing the self-contained report"
    input:
        tables=TABLE_FILES,
        figures=FIGURE_FILES,
        fits=model_files("fit.json"),
        codebook=f"{RESULTS}/codebook.md",
        provenance=f"{RESULTS}/provenance.json",
        **({"dropped": DROPPED_FILE} if DROPPED_FILE else {}),
        coverage=f"{RESULTS}/tables/coverage.csv",
        comparison=[COMPARISON_FILES["comparison_csv"]] if COMPARISON_FILES else [],
        channel_choice=CHANNEL_CHOICE_FILES,
    output:
        f"{RESULTS}/report.html",
    params:
        dataset=config["dataset"],
        tables=list(TABLES),
        table_models=TABLES,
        figures=FIGURES,
        models=list(MODELS),
        model_labels=MODEL_LABELS,
        truth_model=OUTPUTS.get("truth_model"),
        warn_share=(config["panel"].get("combine") or {}).get("warn_share", 0.05),
    log:
        f"{RESULTS}/logs/report.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 500 * attempt,
        runtime=5,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/write_report.py"
