# SRResNet MSE pretraining (shared by the experiments whose pretraining settings are equal), then
# SRGAN adversarial training of each experiment, started from it.


rule pretrain:
    input:
        unpack(lambda w: patch_files(PRETRAINS[w.pretrain])),
        val=lambda w: eval_dirs(PRETRAINS[w.pretrain], PRETRAINS[w.pretrain]["val_sets"]),
    output:
        generator="results/pretrain/{pretrain}/generator.pt",
        history="results/pretrain/{pretrain}/history.csv",
        snapshots="results/pretrain/{pretrain}/snapshots.npz",
    params:
        model=lambda w: PRETRAINS[w.pretrain]["model"],
        train=lambda w: PRETRAINS[w.pretrain]["pretrain"],
        scale=lambda w: PRETRAINS[w.pretrain]["scale"],
        seed=lambda w: PRETRAINS[w.pretrain]["seed"],
        val_sets=lambda w: PRETRAINS[w.pretrain]["val_sets"],
        device=lambda w: PRETRAINS[w.pretrain]["device"],
        precision=lambda w: PRETRAINS[w.pretrain]["precision"],
        compile=lambda w: PRETRAINS[w.pretrain]["compile"],
        checkpoint_every=lambda w: PRETRAINS[w.pretrain]["checkpoint_every"],
        resume="results/pretrain/{pretrain}/resume.pt",
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
        history=lambda w: f"results/pretrain/{pretrain_key(EXPERIMENTS[w.exp])}/history.csv",
        snapshots=lambda w: f"results/pretrain/{pretrain_key(EXPERIMENTS[w.exp])}/snapshots.npz",
    output:
        generator="results/{exp}/srresnet/generator.pt",
        history="results/{exp}/history/srresnet.csv",
        snapshots="results/{exp}/srresnet/snapshots.npz",
    log:
        "results/logs/{exp}/adopt_pretrain.log",
    conda:
        ENV
    shell:
        # copy to a temporary name, then rename: never a half-copied file under the output name
        "(cp {input.generator} {output.generator}.tmp && mv {output.generator}.tmp {output.generator}"
        " && cp {input.history} {output.history}.tmp && mv {output.history}.tmp {output.history}"
        " && cp {input.snapshots} {output.snapshots}.tmp && mv {output.snapshots}.tmp {output.snapshots}"
        ") 2> {log}"


rule train_gan:
    input:
        unpack(lambda w: patch_files(EXPERIMENTS[w.exp])),
        generator="results/{exp}/srresnet/generator.pt",
        val=lambda w: eval_dirs(EXPERIMENTS[w.exp], EXPERIMENTS[w.exp]["val_sets"]),
    output:
        generator="results/{exp}/srgan/generator.pt",
        discriminator="results/{exp}/srgan/discriminator.pt",
        content_network="results/{exp}/srgan/content_network.json",
        history="results/{exp}/history/srgan.csv",
        snapshots="results/{exp}/srgan/snapshots.npz",
    params:
        gan=exp_param("gan"),
        vgg=exp_param("vgg"),
        hr_size=exp_param("patches", "hr_size"),
        scale=exp_param("scale"),
        seed=exp_param("seed"),
        val_sets=exp_param("val_sets"),
        device=exp_param("device"),
        precision=exp_param("precision"),
        compile=exp_param("compile"),
        checkpoint_every=exp_param("checkpoint_every"),
        resume="results/{exp}/srgan/resume.pt",
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
