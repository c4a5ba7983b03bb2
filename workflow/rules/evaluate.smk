# Bicubic baseline and the trained generators on every test set: per-image CSV + SR images; and
# the per-epoch evaluation stage, which scores each training stage's snapshots on the validation
# sets (so that validation sets and metric settings never retrain anything).


rule lpips_network:
    output:
        status="results/{exp}/lpips_network.json",
    params:
        weights_path=exp_param("lpips", "weights_path"),
        allow_unavailable=exp_param("lpips", "allow_unavailable"),
    log:
        "results/logs/{exp}/lpips_network.log",
    conda:
        ENV
    script:
        "../scripts/lpips_network.py"


rule bicubic_baseline:
    input:
        data=lambda w: eval_dir(EXPERIMENTS[w.exp], w.dataset),
        lpips=rules.lpips_network.output.status,
    output:
        metrics="results/{exp}/eval/bicubic/{dataset}/metrics.csv",
        images=directory("results/{exp}/eval/bicubic/{dataset}/images"),
    params:
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        lpips_weights=exp_param("lpips", "weights_path"),
    log:
        "results/logs/{exp}/bicubic/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/evaluate.py"


rule evaluate:
    input:
        data=lambda w: eval_dir(EXPERIMENTS[w.exp], w.dataset),
        lpips=rules.lpips_network.output.status,
        generator="results/{exp}/{stage}/generator.pt",
    output:
        metrics="results/{exp}/eval/{stage}/{dataset}/metrics.csv",
        images=directory("results/{exp}/eval/{stage}/{dataset}/images"),
    params:
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        lpips_weights=exp_param("lpips", "weights_path"),
        run=get_run_settings,
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


rule evaluate_snapshots:
    input:
        snapshots=get_snapshots,
        train_log=get_train_log,
        lpips=rules.lpips_network.output.status,
        val=lambda w: eval_dirs(EXPERIMENTS[w.exp], EXPERIMENTS[w.exp]["val_sets"]),
    output:
        history="results/{exp}/history/{stage}.csv",
        progress="results/{exp}/{stage}/progress.npz",
    params:
        val_sets=exp_param("val_sets"),
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        lpips_weights=exp_param("lpips", "weights_path"),
        run=get_run_settings,
    log:
        "results/logs/{exp}/evaluate_snapshots_{stage}.log",
    benchmark:
        "results/benchmarks/{exp}/evaluate_snapshots/{stage}.tsv"
    threads: lambda w: EXPERIMENTS[w.exp]["threads"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    conda:
        ENV
    script:
        "../scripts/evaluate_snapshots.py"
