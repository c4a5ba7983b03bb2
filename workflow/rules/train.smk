# SRResNet MSE pretraining (shared by the experiments whose pretraining settings are equal), then
# SRGAN adversarial training of each experiment, started from it. Both write a generator
# snapshot at every evaluation point; rule evaluate_snapshots scores them. Resume state lives in
# the stage's resume/ folder only while a run is unfinished (srgan.checkpoint).


rule pretrain:
    input:
        store=lambda w: store_dir(PRETRAINS[w.pretrain]),
    output:
        generator="results/pretrain/{pretrain}/generator.pt",
        train_log="results/pretrain/{pretrain}/train_log.csv",
        snapshots=directory("results/pretrain/{pretrain}/snapshots"),
    params:
        patches=lambda w: PRETRAINS[w.pretrain]["patches"],
        model=lambda w: PRETRAINS[w.pretrain]["model"],
        train=lambda w: PRETRAINS[w.pretrain]["pretrain"],
        scale=lambda w: PRETRAINS[w.pretrain]["scale"],
        seed=lambda w: PRETRAINS[w.pretrain]["seed"],
        precision=lambda w: PRETRAINS[w.pretrain]["precision"],
        run=get_run_settings,
        resume="results/pretrain/{pretrain}/resume",
    log:
        "results/logs/pretrain/{pretrain}.log",
    benchmark:
        "results/benchmarks/pretrain/{pretrain}.tsv"
    threads: lambda w: PRETRAINS[w.pretrain]["threads"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60 * 24,
    conda:
        ENV
    script:
        "../scripts/train_srresnet.py"


rule adopt_pretrain:
    """Each experiment's own copy of the shared SRResNet, so that its folder is complete."""
    input:
        generator=lambda w: f"results/pretrain/{pretrain_key(EXPERIMENTS[w.exp])}/generator.pt",
    output:
        generator="results/{exp}/srresnet/generator.pt",
    log:
        "results/logs/{exp}/adopt_pretrain.log",
    conda:
        ENV
    params:
        # a temporary name beside the output, then a rename: never a half-copied file under the
        # output name, and a rerun overwrites what a killed copy left
        tmp=lambda w, output: str(Path(output.generator).with_name(".tmp-generator.pt.copy")),
    shell:
        "(cp {input.generator} {params.tmp} && mv {params.tmp} {output.generator}) 2> {log}"


rule train_gan:
    input:
        store=lambda w: store_dir(EXPERIMENTS[w.exp]),
        generator="results/{exp}/srresnet/generator.pt",
    output:
        generator="results/{exp}/srgan/generator.pt",
        discriminator="results/{exp}/srgan/discriminator.pt",
        content_network="results/{exp}/srgan/content_network.json",
        train_log="results/{exp}/srgan/train_log.csv",
        snapshots=directory("results/{exp}/srgan/snapshots"),
    params:
        gan=exp_param("gan"),
        vgg=exp_param("vgg"),
        patches=exp_param("patches"),
        seed=exp_param("seed"),
        precision=exp_param("precision"),
        run=get_run_settings,
        resume="results/{exp}/srgan/resume",
    log:
        "results/logs/{exp}/train_gan.log",
    benchmark:
        "results/benchmarks/{exp}/train_gan.tsv"
    threads: lambda w: EXPERIMENTS[w.exp]["threads"]
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=60 * 24,
    conda:
        ENV
    script:
        "../scripts/train_srgan.py"
