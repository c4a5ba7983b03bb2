# Tables and figures of one experiment.


rule tables:
    input:
        metrics=lambda w: metrics_csvs(w.exp),
        content_network="results/{exp}/srgan/content_network.json",
    output:
        csv="results/{exp}/tables/results.csv",
        markdown="results/{exp}/tables/results.md",
    params:
        methods=["bicubic"] + STAGES,
        test_sets=config["test_sets"],
        protocol=config["metrics"]["protocol"],
        scale=config["scale"],
        smoke_scale=config["datasets"][config["train_set"]]["source"] == "skimage",
    log:
        "results/logs/{exp}/tables.log",
    conda:
        ENV
    script:
        "../scripts/make_tables.py"


rule figures:
    input:
        histories=expand("results/{{exp}}/history/{stage}.csv", stage=STAGES),
        metrics=lambda w: metrics_csvs(w.exp),
        data=eval_dirs(config["test_sets"][:1]),
        images=lambda w: [
            f"results/{w.exp}/eval/{method}/{config['test_sets'][0]}/images"
            for method in ["bicubic"] + STAGES
        ],
    output:
        curves="results/{exp}/figures/curves.png",
        comparison="results/{exp}/figures/comparison.png",
    params:
        stages=STAGES,
        methods=["bicubic"] + STAGES,
        test_sets=config["test_sets"],
        val_sets=config["val_sets"],
        protocol=config["metrics"]["protocol"],
        scale=config["scale"],
        dpi=config["plots"]["dpi"],
    log:
        "results/logs/{exp}/figures.log",
    conda:
        ENV
    script:
        "../scripts/make_figures.py"


rule bicubic_table:
    input:
        metrics=lambda w: [
            f"results/{w.exp}/eval/bicubic/{name}/metrics.csv" for name in config["test_sets"]
        ],
    output:
        csv="results/{exp}/tables/bicubic.csv",
        markdown="results/{exp}/tables/bicubic.md",
    params:
        test_sets=config["test_sets"],
        protocol=config["metrics"]["protocol"],
        round_y=config["metrics"]["round_y"],
        scale=config["scale"],
    log:
        "results/logs/{exp}/bicubic_table.log",
    conda:
        ENV
    script:
        "../scripts/make_bicubic_table.py"
