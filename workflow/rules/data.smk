# Datasets -> the training image store and evaluation pairs.


rule prepare_dataset:
    output:
        hr=directory("resources/datasets/{dataset}/HR"),
        manifest="resources/datasets/{dataset}/MANIFEST.tsv",
    params:
        spec=lambda w: DATASETS[w.dataset],
        download_dir="resources/downloads",
        run=get_run_settings,
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/prepare_dataset.py"


rule prepare_train:
    input:
        hr=lambda w: f"resources/datasets/{STORES[w.store]['train_set']}/HR",
    output:
        store=directory("results/data/train/{store}"),
    params:
        scale=lambda w: STORES[w.store]["scale"],
    log:
        "results/logs/prepare_train/{store}.log",
    benchmark:
        "results/benchmarks/prepare_train/{store}.tsv"
    threads: 1
    resources:
        mem_mb=store_mem_mb,
        runtime=60,
    conda:
        ENV
    script:
        "../scripts/prepare_train.py"


rule prepare_eval:
    input:
        hr="resources/datasets/{dataset}/HR",
    output:
        pairs=directory("results/data/eval/{dataset}/x{scale}"),
    params:
        scale=lambda w: int(w.scale),
    log:
        "results/logs/prepare_eval/{dataset}_x{scale}.log",
    resources:
        mem_mb=store_mem_mb,
    conda:
        ENV
    script:
        "../scripts/prepare_eval.py"
