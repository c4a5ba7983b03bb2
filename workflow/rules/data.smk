# Datasets -> training patches and evaluation pairs.


rule prepare_dataset:
    output:
        hr=directory("resources/datasets/{dataset}/HR"),
        manifest="resources/datasets/{dataset}/MANIFEST.tsv",
    params:
        spec=lambda w: config["datasets"][w.dataset],
        download_dir="resources/downloads",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/prepare_dataset.py"


rule prepare_train:
    input:
        hr="resources/datasets/{dataset}/HR",
    output:
        hr="results/data/train/{dataset}/hr.npy",
        lr="results/data/train/{dataset}/lr.npy",
    params:
        hr_size=config["patches"]["hr_size"],
        per_image=config["patches"]["per_image"],
        scale=config["scale"],
        seed=config["seed"],
    log:
        "results/logs/prepare_train/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_train/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV
    script:
        "../scripts/prepare_train.py"


rule prepare_eval:
    input:
        hr="resources/datasets/{dataset}/HR",
    output:
        directory("results/data/eval/{dataset}"),
    params:
        scale=config["scale"],
    log:
        "results/logs/prepare_eval/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/prepare_eval.py"
