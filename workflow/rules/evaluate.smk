# Bicubic baseline and the trained generators on every test set: per-image CSV + SR images.


rule bicubic_baseline:
    input:
        data="results/data/eval/{dataset}",
    output:
        metrics="results/{exp}/eval/bicubic/{dataset}/metrics.csv",
        images=directory("results/{exp}/eval/bicubic/{dataset}/images"),
    params:
        scale=config["scale"],
        protocol=config["metrics"]["protocol"],
        round_y=config["metrics"]["round_y"],
    log:
        "results/logs/{exp}/bicubic/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/evaluate.py"


rule evaluate:
    input:
        data="results/data/eval/{dataset}",
        generator=stage_checkpoint,
    output:
        metrics="results/{exp}/eval/{stage}/{dataset}/metrics.csv",
        images=directory("results/{exp}/eval/{stage}/{dataset}/images"),
    params:
        scale=config["scale"],
        protocol=config["metrics"]["protocol"],
        round_y=config["metrics"]["round_y"],
        device=config["device"],
    log:
        "results/logs/{exp}/{stage}/{dataset}.log",
    benchmark:
        "results/benchmarks/{exp}/evaluate/{stage}/{dataset}.tsv"
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    conda:
        ENV
    script:
        "../scripts/evaluate.py"
