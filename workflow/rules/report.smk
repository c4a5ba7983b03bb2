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
    log:
        "results/logs/{exp}/record_config.log",
    conda:
        REPORT_ENV
    params:
        config=get_recorded_config,
    script:
        "../scripts/record_config.py"


rule tables:
    input:
        metrics=get_tables_metrics,
        content_network=rules.train_gan.output.content_network,
        lpips=get_experiment_lpips,
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
    log:
        "results/logs/{exp}/tables.log",
    conda:
        REPORT_ENV
    params:
        methods=METHODS,
        test_sets=exp_param("test_sets"),
        protocol=exp_param("metrics", "protocol"),
        scale=exp_param("scale"),
        smoke_scale=get_smoke_scale,
    script:
        "../scripts/make_tables.py"


rule bicubic_table:
    input:
        metrics=get_bicubic_metrics,
    output:
        csv=report(
            "results/{exp}/tables/bicubic.csv",
            caption="../report/bicubic.rst",
            category="{exp}",
            subcategory="tables",
            labels={"table": "bicubic vs published"},
        ),
        markdown="results/{exp}/tables/bicubic.md",
    log:
        "results/logs/{exp}/bicubic_table.log",
    conda:
        REPORT_ENV
    params:
        test_sets=exp_param("test_sets"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        scale=exp_param("scale"),
    script:
        "../scripts/make_bicubic_table.py"


rule figure_curves:
    input:
        histories=get_histories,
        bicubic=get_curves_bicubic,
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
    log:
        "results/logs/{exp}/figure_curves.log",
    conda:
        REPORT_ENV
    params:
        stages=STAGES,
        val_sets=exp_param("val_sets"),
        bicubic_sets=get_curves_bicubic_sets,
        protocol=exp_param("metrics", "protocol"),
        dpi=exp_param("plots", "dpi"),
    script:
        "../scripts/make_curves.py"


rule figure_progress:
    input:
        progress=get_progress,
        data=get_progress_pairs,
    output:
        figure=report(
            "results/{exp}/figures/progress_{stage}.png",
            caption="../report/progress.rst",
            category="{exp}",
            subcategory="images",
            labels={"figure": "progress, {stage}"},
        ),
    log:
        "results/logs/{exp}/figure_progress_{stage}.log",
    conda:
        REPORT_ENV
    params:
        epochs=exp_param("plots", "progress_epochs"),
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        round_y=exp_param("metrics", "round_y"),
        dpi=exp_param("plots", "dpi"),
    script:
        "../scripts/make_progress.py"


rule figure_comparison:
    input:
        data=get_test_pairs,
        images=get_comparison_images,
        metrics=get_comparison_metrics,
    output:
        figure=report(
            "results/{exp}/figures/comparison_{dataset}.png",
            caption="../report/comparison.rst",
            category="{exp}",
            subcategory="images",
            labels={"figure": "comparison, {dataset}"},
        ),
    log:
        "results/logs/{exp}/figure_comparison_{dataset}.log",
    conda:
        REPORT_ENV
    params:
        methods=METHODS,
        scale=exp_param("scale"),
        protocol=exp_param("metrics", "protocol"),
        crop=exp_param("plots", "crop"),
        inset=exp_param("plots", "inset_size"),
        dpi=exp_param("plots", "dpi"),
    script:
        "../scripts/make_comparison.py"


rule figure_perception:
    input:
        metrics=get_perception_metrics,
        history=get_srgan_history,
        lpips=get_experiment_lpips,
    output:
        figure=report(
            "results/{exp}/figures/perception_{dataset}.png",
            caption="../report/perception.rst",
            category="{exp}",
            subcategory="images",
            labels={"figure": "perception-distortion, {dataset}"},
        ),
    log:
        "results/logs/{exp}/figure_perception_{dataset}.log",
    conda:
        REPORT_ENV
    params:
        methods=get_perception_labels,
        test_set="{dataset}",
        dpi=exp_param("plots", "dpi"),
    script:
        "../scripts/make_perception.py"


rule ablation:
    input:
        unpack(get_ablation_inputs),
    output:
        csv=report(
            "results/ablation/ablation.csv",
            caption="../report/ablation.rst",
            category="ablation",
            labels={"table": "ablation"},
        ),
        markdown="results/ablation/ablation.md",
    log:
        "results/logs/ablation.log",
    conda:
        REPORT_ENV
    params:
        experiments=get_ablation_experiments,
        test_sets=get_ablation_test_sets,
        protocol=get_ablation_protocol,
        scale=get_ablation_scale,
    script:
        "../scripts/make_ablation.py"
