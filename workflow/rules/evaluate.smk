# Bicubic baseline and the trained generators on every test set: per-image CSV + SR images.


rule bicubic_baseline:
    input:
        data=lambda w: eval_dir(EXPERIMENTS[w.exp], w.dataset),
    output:
        metrics="results/{exp}/eval/bicubic/{dataset}/metrics.csv",
        images=directory("results/{exp}/eval/bicubic/{dataset}/images"),
    params:
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
    log:
        "results/logs/{exp}/bicubic/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/evaluate.py"


rule evaluate:
    input:
        data=lambda w: eval_dir(EXPERIMENTS[w.exp], w.dataset),
        generator="results/{exp}/{stage}/generator.pt",
    output:
        metrics="results/{exp}/eval/{stage}/{dataset}/metrics.csv",
        images=directory("results/{exp}/eval/{stage}/{dataset}/images"),
    params:
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        device=exp_param("device"),
    log:
        "results/logs/{exp}/{stage}/{dataset}.log",
    benchmark:
        "results/benchmarks/{exp}/evaluate/{stage}/{dataset}.tsv"
    threads: lambda w: EXPERIMENTS[w.exp]["threads"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    conda:
        ENV
    script:
        "../scripts/evaluate.py"
