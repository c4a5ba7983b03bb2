# SRResNet MSE pretraining (shared by the experiments whose pretraining settings are equal), then
# SRGAN adversarial training of each experiment, started from it. Both write a generator
# snapshot at every evaluation point; rule evaluate_snapshots scores them. Resume state lives in
# the stage's resume/ folder only while a run is unfinished (srgan.checkpoint).


rule pretrain:
    input:
        store=get_pretrain_store,
    output:
        generator="results/pretrain/{pretrain}/generator.pt",
        train_log="results/pretrain/{pretrain}/train_log.csv",
        snapshots=directory("results/pretrain/{pretrain}/snapshots"),
    log:
        "results/logs/pretrain/{pretrain}.log",
    benchmark:
        "results/benchmarks/pretrain/{pretrain}.tsv"
    conda:
        TORCH_ENV
    threads: get_threads
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60 * 24,
    params:
        patches=pretrain_param("patches"),
        model=pretrain_param("model"),
        train=pretrain_param("pretrain"),
        scale=pretrain_param("scale"),
        seed=pretrain_param("seed"),
        precision=pretrain_param("precision"),
        run=get_run_settings,
        resume="results/pretrain/{pretrain}/resume",
    script:
        "../scripts/train_srresnet.py"


rule adopt_pretrain:
    """Each experiment's own copy of the shared SRResNet, so that its folder is complete (rule
    upscale and `srgan upscale` take results/<exp>/<stage>/generator.pt)."""
    input:
        generator=get_pretrained_generator,
    output:
        generator="results/{exp}/srresnet/generator.pt",
    log:
        "results/logs/{exp}/adopt_pretrain.log",
    conda:
        REPORT_ENV
    params:
        tmp=get_copy_tmp,
    shell:
        "(cp {input.generator} {params.tmp} && mv {params.tmp} {output.generator}) 2> {log}"


rule train_gan:
    input:
        store=get_experiment_store,
        generator=rules.adopt_pretrain.output.generator,
    output:
        generator="results/{exp}/srgan/generator.pt",
        discriminator="results/{exp}/srgan/discriminator.pt",
        content_network="results/{exp}/srgan/content_network.json",
        train_log="results/{exp}/srgan/train_log.csv",
        snapshots=directory("results/{exp}/srgan/snapshots"),
    log:
        "results/logs/{exp}/train_gan.log",
    benchmark:
        "results/benchmarks/{exp}/train_gan.tsv"
    conda:
        TORCH_ENV
    threads: get_threads
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=60 * 24,
    params:
        gan=exp_param("gan"),
        vgg=exp_param("vgg"),
        patches=exp_param("patches"),
        seed=exp_param("seed"),
        precision=exp_param("precision"),
        run=get_run_settings,
        resume="results/{exp}/srgan/resume",
    script:
        "../scripts/train_srgan.py"
