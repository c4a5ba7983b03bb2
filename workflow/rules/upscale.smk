# Your own photos, upscaled by the final SRResNet and SRGAN of an experiment: off unless the config
# names a folder (upscale.folder). `srgan upscale` does the same from the command line.


rule upscale:
    input:
        generator="results/{exp}/{stage}/generator.pt",
        photos=get_upscale_photos,
    output:
        photos=directory("results/{exp}/upscaled/{stage}"),
    log:
        "results/logs/{exp}/upscale/{stage}.log",
    benchmark:
        "results/benchmarks/{exp}/upscale/{stage}.tsv"
    conda:
        TORCH_ENV
    threads: get_threads
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    params:
        folder=exp_param("upscale", "folder"),
        format=exp_param("upscale", "format"),
        quality=exp_param("upscale", "quality"),
        run=get_run_settings,
    script:
        "../scripts/upscale.py"
