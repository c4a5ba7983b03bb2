# Datasets -> training patches and evaluation pairs.


rule prepare_dataset:
    output:
        hr=directory("resources/datasets/{dataset}/HR"),
        manifest="resources/datasets/{dataset}/MANIFEST.tsv",
    params:
        spec=lambda w: DATASETS[w.dataset],
        download_dir="resources/downloads",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/prepare_dataset.py"


rule prepare_train:
    input:
        hr=lambda w: f"resources/datasets/{PATCHES[w.patches]['train_set']}/HR",
    output:
        hr="results/data/train/{patches}/hr.npy",
        lr="results/data/train/{patches}/lr.npy",
    params:
        hr_size=lambda w: PATCHES[w.patches]["patches"]["hr_size"],
        per_image=lambda w: PATCHES[w.patches]["patches"]["per_image"],
        scale=lambda w: PATCHES[w.patches]["scale"],
        seed=lambda w: PATCHES[w.patches]["seed"],
    log:
        "results/logs/prepare_train/{patches}.log",
    benchmark:
        "results/benchmarks/prepare_train/{patches}.tsv"
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
        directory("results/data/eval/{dataset}/x{scale}"),
    params:
        scale=lambda w: int(w.scale),
    log:
        "results/logs/prepare_eval/{dataset}_x{scale}.log",
    conda:
        ENV
    script:
        "../scripts/prepare_eval.py"
