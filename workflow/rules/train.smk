# SRResNet MSE pretraining, then SRGAN adversarial training started from it.


rule pretrain:
    input:
        hr=lambda w: f"results/data/train/{config['train_set']}/hr.npy",
        lr=lambda w: f"results/data/train/{config['train_set']}/lr.npy",
        val=eval_dirs(config["val_sets"]),
    output:
        generator="results/{exp}/srresnet/generator.pt",
        history="results/{exp}/history/srresnet.csv",
    params:
        model=config["model"],
        train=config["pretrain"],
        scale=config["scale"],
        seed=config["seed"],
        val_sets=config["val_sets"],
        device=config["device"],
        precision=config["precision"],
        compile=config["compile"],
        checkpoint_every=config["checkpoint_every"],
        resume="results/{exp}/srresnet/resume.pt",
    log:
        "results/logs/{exp}/pretrain.log",
    benchmark:
        "results/benchmarks/{exp}/pretrain.tsv"
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60 * 24,
    conda:
        ENV
    script:
        "../scripts/train_srresnet.py"


rule train_gan:
    input:
        generator=rules.pretrain.output.generator,
        hr=rules.pretrain.input.hr,
        lr=rules.pretrain.input.lr,
        val=eval_dirs(config["val_sets"]),
    output:
        generator="results/{exp}/srgan/generator.pt",
        discriminator="results/{exp}/srgan/discriminator.pt",
        content_network="results/{exp}/srgan/content_network.json",
        history="results/{exp}/history/srgan.csv",
    params:
        gan=config["gan"],
        vgg=config["vgg"],
        hr_size=config["patches"]["hr_size"],
        scale=config["scale"],
        seed=config["seed"],
        val_sets=config["val_sets"],
        device=config["device"],
        precision=config["precision"],
        compile=config["compile"],
        checkpoint_every=config["checkpoint_every"],
        resume="results/{exp}/srgan/resume.pt",
    log:
        "results/logs/{exp}/train_gan.log",
    benchmark:
        "results/benchmarks/{exp}/train_gan.tsv"
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=60 * 24,
    conda:
        ENV
    script:
        "../scripts/train_srgan.py"
