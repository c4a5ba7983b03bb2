# Bicubic baseline and the trained generators on every test set: per-image CSV + SR images; and
# the per-epoch evaluation stage, which scores each training stage's snapshots on the validation
# sets (so that validation sets and metric settings never retrain anything).
#
# What is equal across experiments is done once: the LPIPS decision per lpips settings, the
# bicubic baseline per scoring (scale, metrics, lpips; results/bicubic/<scoring>/), and each
# generator's evaluations beside it ({model} is pretrain/<key> for a shared SRResNet, or
# <exp>/srgan), per scoring (eval/<scoring>/) or per scoring and validation sets
# (history/<validation>.csv, progress/<validation>.npz).


rule lpips_network:
    output:
        status="results/lpips_network/{lpips}.json",
    log:
        "results/logs/lpips_network/{lpips}.log",
    conda:
        TORCH_ENV
    params:
        weights_path=lpips_param("lpips", "weights_path"),
        allow_unavailable=lpips_param("lpips", "allow_unavailable"),
    script:
        "../scripts/lpips_network.py"


rule bicubic_baseline:
    input:
        data=get_scoring_pairs,
        lpips=get_scoring_lpips,
    output:
        metrics="results/bicubic/{scoring}/{dataset}/metrics.csv",
        images=directory("results/bicubic/{scoring}/{dataset}/images"),
    log:
        "results/logs/bicubic_baseline/{scoring}/{dataset}.log",
    conda:
        TORCH_ENV
    params:
        scale=scoring_param("scale"),
        protocol=scoring_param("metrics", "protocol"),
        round_y=scoring_param("metrics", "round_y"),
        lpips_weights=scoring_param("lpips", "weights_path"),
    script:
        "../scripts/bicubic_baseline.py"


rule evaluate:
    input:
        data=get_scoring_pairs,
        lpips=get_scoring_lpips,
        generator="results/{model}/generator.pt",
    output:
        metrics="results/{model}/eval/{scoring}/{dataset}/metrics.csv",
        images=directory("results/{model}/eval/{scoring}/{dataset}/images"),
    log:
        "results/logs/evaluate/{model}/{scoring}/{dataset}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{scoring}/{dataset}.tsv"
    conda:
        TORCH_ENV
    threads: get_threads
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    params:
        scale=scoring_param("scale"),
        protocol=scoring_param("metrics", "protocol"),
        round_y=scoring_param("metrics", "round_y"),
        lpips_weights=scoring_param("lpips", "weights_path"),
        run=get_run_settings,
    script:
        "../scripts/evaluate.py"


rule evaluate_snapshots:
    input:
        snapshots="results/{model}/snapshots",
        train_log="results/{model}/train_log.csv",
        lpips=get_validation_lpips,
        val=get_validation_pairs,
    output:
        history="results/{model}/history/{validation}.csv",
        progress="results/{model}/progress/{validation}.npz",
    log:
        "results/logs/evaluate_snapshots/{model}/{validation}.log",
    benchmark:
        "results/benchmarks/evaluate_snapshots/{model}/{validation}.tsv"
    conda:
        TORCH_ENV
    threads: get_threads
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        val_sets=validation_param("val_sets"),
        scale=validation_param("scale"),
        protocol=validation_param("metrics", "protocol"),
        round_y=validation_param("metrics", "round_y"),
        lpips_weights=validation_param("lpips", "weights_path"),
        run=get_run_settings,
    script:
        "../scripts/evaluate_snapshots.py"
