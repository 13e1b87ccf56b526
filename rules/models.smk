rule fit_model:
    message:
        "Fitting model {wildcards.model_id}"
    input:
        panel=f"{RESULTS}/panel.csv",
        weights=model_weight_files,
    output:
        coefficients=f"{RESULTS}/models/{{model_id}}/coefficients.csv",
        fit=f"{RESULTS}/models/{{model_id}}/fit.json",
        impacts=f"{RESULTS}/models/{{model_id}}/impacts.csv",
        sample=f"{RESULTS}/models/{{model_id}}/sample.csv",
        profile=f"{RESULTS}/models/{{model_id}}/profile.csv",
        draws=f"{RESULTS}/models/{{model_id}}/draws.parquet",
    params:
        spec=lambda wc: MODELS[wc.model_id],
        seed=SEED,
    log:
        f"{RESULTS}/logs/model_{{model_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/model_{{model_id}}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/fit_model.py"
