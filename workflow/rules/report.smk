# Tables, figures and the ablation table. Outputs marked report() go into
# `snakemake --report results/report.html`, captioned by workflow/report/*.rst.


rule record_config:
    output:
        config="results/{exp}/config.yaml",
        html=report(
            "results/{exp}/config.html",
            caption="../report/config.rst",
            category="{exp}",
            subcategory="config",
            labels={"table": "resolved config"},
        ),
    params:
        config=get_recorded_config,
    log:
        "results/logs/{exp}/record_config.log",
    conda:
        ENV
    script:
        "../scripts/record_config.py"


rule tables:
    input:
        metrics=lambda w: metrics_csvs(w.exp),
        content_network="results/{exp}/srgan/content_network.json",
        lpips=rules.lpips_network.output.status,
    output:
        csv=report(
            "results/{exp}/tables/results.csv",
            caption="../report/results.rst",
            category="{exp}",
            subcategory="tables",
            labels={"table": "results (CSV)"},
        ),
        markdown="results/{exp}/tables/results.md",
        latex="results/{exp}/tables/results.tex",
        html=report(
            "results/{exp}/tables/results.html",
            caption="../report/results.rst",
            category="{exp}",
            subcategory="tables",
            labels={"table": "results"},
        ),
    params:
        methods=METHODS,
        test_sets=exp_param("test_sets"),
        protocol=exp_param("metrics", "protocol"),
        scale=exp_param("scale"),
        smoke_scale=lambda w: EXPERIMENTS[w.exp]["datasets"][EXPERIMENTS[w.exp]["train_set"]]["source"]
        == "skimage",
    log:
        "results/logs/{exp}/tables.log",
    conda:
        ENV
    script:
        "../scripts/make_tables.py"


rule bicubic_table:
    input:
        metrics=lambda w: [
            f"results/{w.exp}/eval/bicubic/{name}/metrics.csv"
            for name in EXPERIMENTS[w.exp]["test_sets"]
        ],
    output:
        csv=report(
            "results/{exp}/tables/bicubic.csv",
            caption="../report/bicubic.rst",
            category="{exp}",
            subcategory="tables",
            labels={"table": "bicubic vs published"},
        ),
        markdown="results/{exp}/tables/bicubic.md",
    params:
        test_sets=exp_param("test_sets"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        scale=exp_param("scale"),
    log:
        "results/logs/{exp}/bicubic_table.log",
    conda:
        ENV
    script:
        "../scripts/make_bicubic_table.py"


rule figure_curves:
    input:
        histories=expand("results/{{exp}}/history/{stage}.csv", stage=STAGES),
        bicubic=lambda w: [
            f"results/{w.exp}/eval/bicubic/{name}/metrics.csv"
            for name in EXPERIMENTS[w.exp]["val_sets"]
            if name in EXPERIMENTS[w.exp]["test_sets"]
        ],
    output:
        curves=report(
            "results/{exp}/figures/curves.png",
            caption="../report/curves.rst",
            category="{exp}",
            subcategory="training",
            labels={"figure": "PSNR/SSIM per epoch"},
        ),
        losses=report(
            "results/{exp}/figures/losses.png",
            caption="../report/losses.rst",
            category="{exp}",
            subcategory="training",
            labels={"figure": "losses"},
        ),
        discriminator=report(
            "results/{exp}/figures/discriminator.png",
            caption="../report/discriminator.rst",
            category="{exp}",
            subcategory="training",
            labels={"figure": "D(HR), D(SR)"},
        ),
    params:
        stages=STAGES,
        val_sets=exp_param("val_sets"),
        bicubic_sets=lambda w: [
            name
            for name in EXPERIMENTS[w.exp]["val_sets"]
            if name in EXPERIMENTS[w.exp]["test_sets"]
        ],
        protocol=exp_param("metrics", "protocol"),
        dpi=exp_param("plots", "dpi"),
    log:
        "results/logs/{exp}/figure_curves.log",
    conda:
        ENV
    script:
        "../scripts/make_curves.py"


rule figure_progress:
    input:
        progress="results/{exp}/{stage}/progress.npz",
        data=lambda w: eval_dirs(EXPERIMENTS[w.exp], EXPERIMENTS[w.exp]["val_sets"][:1]),
    output:
        figure=report(
            "results/{exp}/figures/progress_{stage}.png",
            caption="../report/progress.rst",
            category="{exp}",
            subcategory="images",
            labels={"figure": "progress, {stage}"},
        ),
    params:
        epochs=exp_param("plots", "progress_epochs"),
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        dpi=exp_param("plots", "dpi"),
    log:
        "results/logs/{exp}/figure_progress_{stage}.log",
    conda:
        ENV
    script:
        "../scripts/make_progress.py"


rule figure_comparison:
    input:
        data=lambda w: eval_dir(EXPERIMENTS[w.exp], w.dataset),
        images=expand("results/{{exp}}/eval/{method}/{{dataset}}/images", method=METHODS),
        metrics=expand("results/{{exp}}/eval/{method}/{{dataset}}/metrics.csv", method=METHODS),
    output:
        figure=report(
            "results/{exp}/figures/comparison_{dataset}.png",
            caption="../report/comparison.rst",
            category="{exp}",
            subcategory="images",
            labels={"figure": "comparison, {dataset}"},
        ),
    params:
        methods=METHODS,
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        crop=exp_param("plots", "crop"),
        inset=exp_param("plots", "inset_size"),
        dpi=exp_param("plots", "dpi"),
    log:
        "results/logs/{exp}/figure_comparison_{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/make_comparison.py"


rule figure_perception:
    input:
        metrics=get_perception_metrics,
        history="results/{exp}/history/srgan.csv",
        lpips=rules.lpips_network.output.status,
    output:
        figure=report(
            "results/{exp}/figures/perception_{dataset}.png",
            caption="../report/perception.rst",
            category="{exp}",
            subcategory="images",
            labels={"figure": "perception-distortion, {dataset}"},
        ),
    params:
        methods=get_perception_labels,
        test_set=lambda w: w.dataset,
        dpi=exp_param("plots", "dpi"),
    log:
        "results/logs/{exp}/figure_perception_{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/make_perception.py"


rule ablation:
    input:
        srgan=[
            f"results/{exp}/eval/srgan/{name}/metrics.csv"
            for exp, cfg in EXPERIMENTS.items()
            for name in cfg["test_sets"]
        ],
        srresnet=[
            f"results/{next(iter(EXPERIMENTS))}/eval/srresnet/{name}/metrics.csv"
            for name in next(iter(EXPERIMENTS.values()))["test_sets"]
        ],
        content=[f"results/{exp}/srgan/content_network.json" for exp in EXPERIMENTS],
        lpips=[f"results/{exp}/lpips_network.json" for exp in EXPERIMENTS],
    output:
        csv=report(
            "results/ablation/ablation.csv",
            caption="../report/ablation.rst",
            category="ablation",
            labels={"table": "ablation"},
        ),
        markdown="results/ablation/ablation.md",
    params:
        experiments={
            exp: {
                "content": cfg["gan"]["content"],
                "vgg_layer": cfg["gan"]["vgg_layer"],
                "test_sets": cfg["test_sets"],
            }
            for exp, cfg in EXPERIMENTS.items()
        },
        protocol=config["metrics"]["protocol"],
        scale=config["scale"],
    log:
        "results/logs/ablation.log",
    conda:
        ENV
    script:
        "../scripts/make_ablation.py"
