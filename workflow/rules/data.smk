# Datasets -> the training image store and evaluation pairs.


rule prepare_dataset:
    output:
        hr=directory("resources/datasets/{dataset}/HR"),
        manifest="resources/datasets/{dataset}/MANIFEST.tsv",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        DATA_ENV
    params:
        spec=get_dataset_spec,
        download_dir="resources/downloads",
        run=get_run_settings,
    script:
        "../scripts/prepare_dataset.py"


rule prepare_train:
    input:
        hr=get_store_images,
    output:
        store=directory("results/data/train/{store}"),
    log:
        "results/logs/prepare_train/{store}.log",
    benchmark:
        "results/benchmarks/prepare_train/{store}.tsv"
    conda:
        TORCH_ENV
    threads: 1
    resources:
        mem_mb=store_mem_mb,
        runtime=60,
    params:
        scale=store_param("scale"),
    script:
        "../scripts/prepare_train.py"


rule prepare_eval:
    input:
        hr=rules.prepare_dataset.output.hr,
    output:
        pairs=directory("results/data/eval/{dataset}/x{scale}"),
    log:
        "results/logs/prepare_eval/{dataset}_x{scale}.log",
    conda:
        TORCH_ENV
    resources:
        mem_mb=store_mem_mb,
    params:
        scale=get_eval_scale,
    script:
        "../scripts/prepare_eval.py"
