"""The GPU check: correctness smoke, step throughput in eager fp32, bf16 and with CUDA graphs
(each, and the eager module before srgan.speed), FLOPs and the fraction of the bf16 peak, and the
time SRResNet needs to reach Set5 Y-PSNR >= 31 dB. Run by gpu_check.sh.

Data comes from a git-ignored folder of the repository (default .gpudata/, made by
`benchmarks/gpu_check.sh prepare [DIR]`): T91 + BSD100 HR to train (Set14 + BSD100 when prepare
downloaded them), Set5 HR to test.

    python benchmarks/gpu_check.py --out OUT_DIR [--data .gpudata] [--psnr-budget-s 200] [--quick]

Writes OUT_DIR/gpu_check.md (the tables) and OUT_DIR/psnr_curve.csv.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput as tt  # noqa: E402

from srgan import metrics  # noqa: E402
from srgan.evaluate import (load_val_sets, pick_device, score_snapshots, super_resolve,  # noqa: E402
                            super_resolve_float)
from srgan.io import list_images  # noqa: E402
from srgan.models import SRResNet  # noqa: E402
from srgan.patches import (CropSampler, ImageStore, load_eval_set, prepare_eval_set,  # noqa: E402
                           to_device, write_image_store)
from srgan.speed import adam, generator_memory_format, training_forward  # noqa: E402
from srgan.training import (autocast_factory, resolve_precision, run_gan, run_pretrain,  # noqa: E402
                            srresnet_step)

# Dense bf16 tensor-core peaks (NVIDIA datasheets, SXM parts), TFLOP/s.
BF16_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


def peak_tflops(name: str) -> float | None:
    return next((peak for key, peak in BF16_PEAK_TFLOPS.items() if key in name), None)


def throughput_table(paths: list[Path], store: ImageStore, device: torch.device, steps: int,
                     warmup: int, variants: list[str]) -> list[dict]:
    """Patches/s of the reference and of our variants (the first in both sampling modes)."""
    rows = []
    peak = peak_tflops(torch.cuda.get_device_name()) if device.type == "cuda" else None
    for stage in ("srresnet", "srgan"):
        flops = tt.step_flops(stage, device)
        ref = tt.reference_rate(paths, stage, device, steps, warmup)
        candidates = [("reference (PIL per sample, fp32 eager)", ref, None)]
        for k, variant in enumerate(variants):
            for mode in ("fixed", "random") if k == 0 else ("random",):
                sampler = CropSampler(store, hr_size=96, per_image=8, batch_size=tt.BATCH, seed=0, mode=mode)
                start = time.perf_counter()
                try:  # one variant failing (a CUDA-graph capture, say) must not end the check
                    rate, wait = tt.our_rate(sampler, stage, device, steps, warmup, variant=variant)
                except Exception as error:  # noqa: BLE001 - reported in the table
                    print(f"  {stage} {variant} {mode}: FAILED {type(error).__name__}: {error}", flush=True)
                    candidates.append((f"{tt.variant_label(device, variant)}: failed, "
                                       f"{type(error).__name__}: {str(error)[:120]}", math.nan, None))
                    continue
                print(f"  {stage} {variant} {mode}: {rate:.1f} patches/s, data wait {wait:.4f} s/step "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
                candidates.append((f"{tt.variant_label(device, variant)}, {mode} sampling", rate, wait))
        for label, rate, wait in candidates:
            achieved = flops * rate / tt.BATCH / 1e12
            rows.append({"step": stage, "implementation": label, "patches/s": round(rate, 1),
                         "vs reference": round(rate / ref, 2), "GFLOP/step": round(flops / 1e9, 1),
                         "data wait s/step": "-" if wait is None else round(wait, 5),
                         "TFLOP/s": round(achieved, 1),
                         "bf16 peak util.": f"{achieved / peak:.1%}" if peak else "-"})
    return rows


def time_to_psnr(train_paths: list[Path], set5: Path, device: torch.device, *, budget_s: float,
                 target: float, lr: float, eval_every: int, work: Path) -> tuple[list[dict], float | None]:
    """Train the paper's SRResNet (bf16, channels_last, batch 16, Adam lr) until Set5 Y-PSNR >= target
    or the budget ends; evaluation time is excluded from the training clock."""
    write_image_store(train_paths, work / "store", scale=4)
    sampler = CropSampler(ImageStore(work / "store"), hr_size=96, per_image=64, batch_size=16, seed=0,
                          mode="random")
    prepare_eval_set(set5, work / "set5", scale=4)
    pairs = load_eval_set(work / "set5")
    torch.manual_seed(0)
    g = SRResNet().to(device).to(memory_format=generator_memory_format(device))
    step = srresnet_step(training_forward(g), adam(g.parameters(), lr=lr, device=device),
                         autocast=autocast_factory(device, "auto"))
    curve, reached, clock, iteration = [], None, 0.0, 0
    while clock < budget_s and reached is None:
        tt.sync(device)
        start = time.perf_counter()
        step(*to_device(*sampler.batch(iteration), device))
        iteration += 1
        if iteration % eval_every == 0:
            tt.sync(device)
        clock += time.perf_counter() - start
        if iteration % eval_every == 0:
            psnr = float(np.mean([metrics.psnr(super_resolve(g, lr_img, device=device), hr_img, scale=4)
                                  for _, lr_img, hr_img in pairs]))
            curve.append({"iteration": iteration, "train_seconds": round(clock, 1), "set5_psnr": round(psnr, 3)})
            print(f"  it {iteration}: Set5 {psnr:.2f} dB at {clock:.0f} s", flush=True)
            if psnr >= target:
                reached = clock
    return curve, reached


def pipeline_smoke(set5: Path, device: torch.device, work: Path, *, precision: str) -> list[dict]:
    """The pipeline's own stage functions on this device: SRResNet then SRGAN (VGG content loss,
    random weights offline) for a few iterations on Set5 crops, then the evaluation stage scores
    their snapshots on Set5."""
    paths = list_images(set5)
    write_image_store(paths, work / "store", scale=4)
    prepare_eval_set(set5, work / "val", scale=4)
    common = dict(store_dir=work / "store", hr_size=96, per_image=16, sampling="random", batch_size=16,
                  lr=1e-4, seed=0, device=device, precision=precision, checkpoint_every=3)
    run_pretrain(variant="paper", num_blocks=16, scale=4, epochs=2, lr_schedule="constant",
                 resume_dir=work / "pre_resume", generator_out=work / "g.pt",
                 train_log_out=work / "pre.csv", snapshots_out=work / "pre_snapshots", **common)
    run_gan(generator_checkpoint=work / "g.pt", epochs=2, lr_step_epochs=1,
            content="vgg", vgg_layer="block5_conv4", adversarial_weight=1e-3,
            vgg_weights_path=None, allow_random_fallback=True, resume_dir=work / "gan_resume",
            generator_out=work / "gan_g.pt", discriminator_out=work / "gan_d.pt",
            content_network_out=work / "content.json", train_log_out=work / "gan.csv",
            snapshots_out=work / "gan_snapshots", **common)
    val_sets = load_val_sets({"Set5": work / "val"})
    histories = {stage: score_snapshots(work / f"{prefix}_snapshots", pd.read_csv(work / f"{prefix}.csv"),
                                        val_sets, device=device, scale=4, protocol="standard")[0]
                 for stage, prefix in (("srresnet", "pre"), ("srgan", "gan"))}
    pre, gan = (histories[s].to_dict("records") for s in ("srresnet", "srgan"))
    rows = [{"stage": "srresnet", **pre[-1]}, {"stage": "srgan", **gan[-1]}]
    for row in rows:
        # LPIPS is NaN where AlexNet's weights are not cached (no network on the GPU machine)
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)
               and not k.endswith("_lpips")]
        assert not bad, f"non-finite {bad} in {row}"
    return [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
             if k in ("stage", "epoch", "iteration", "mse", "g_loss", "d_real", "d_fake", "Set5_psnr", "seconds")}
            for row in rows]


def tiling_check(set5: Path, device: torch.device) -> dict:
    """Tiled vs whole-image SR of a random-init 16-block SRResNet on this device: the max float
    difference (1e-5 on the CPU; cuDNN's default TF32 may loosen it on CUDA) and uint8 pixels
    that differ, with TF32 as PyTorch sets it by default."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=16).to(device).to(memory_format=torch.channels_last)
    with torch.no_grad():  # batch-norm statistics of real-looking input, so tanh is not saturated
        for _ in range(3):
            generator(torch.rand(4, 3, 24, 24, device=device))
    generator.eval()
    _, lr, _ = load_eval_set(set5)[0]
    whole = super_resolve_float(generator, lr, device=device, tile=0)
    tiled = super_resolve_float(generator, lr, device=device, tile=16)
    return {"device": device.type, "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "max_abs_float_diff": float(np.abs(whole - tiled).max()),
            "uint8_pixels_differing": int((super_resolve(generator, lr, device=device, tile=0)
                                           != super_resolve(generator, lr, device=device, tile=16)).sum())}


def upscale_speed(device: torch.device, *, shape: tuple[int, int] = (750, 1000)) -> list[dict]:
    """srgan upscale's tiler on a 1000x750 LR photo (4000x3000 out) with a random 16-block
    generator: whole image, tiles one by one, batched tiles and batched bf16, with the seconds,
    the output megapixels per second and the peak device memory of each."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=16).to(device).to(memory_format=torch.channels_last).eval()
    lr = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    rows = []
    for label, tile, batch, autocast in (("whole image", 0, 1, None), ("tile 256", 256, 1, None),
                                         ("tile 256, batch 8", 256, 8, None),
                                         ("tile 256, batch 8, bf16", 256, 8, torch.bfloat16),
                                         ("tile 512, batch 4, bf16", 512, 4, torch.bfloat16)):
        super_resolve(generator, lr[:64, :64], device=device, tile=tile, batch=batch, autocast=autocast)
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        sr = super_resolve(generator, lr, device=device, tile=tile, batch=batch, autocast=autocast)
        seconds = time.perf_counter() - start
        peak = round(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else "n/a"
        rows.append({"run": label, "seconds": round(seconds, 2),
                     "output_MP_per_s": round(sr.shape[0] * sr.shape[1] / 1e6 / seconds, 2),
                     "peak_device_MiB": peak})
    return rows


def markdown(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path(".gpudata"))
    parser.add_argument("--psnr-budget-s", type=float, default=200)
    parser.add_argument("--deadline-s", type=float, default=math.inf,
                        help="the whole check's wall budget: the PSNR run gets what is left, minus 30 s")
    parser.add_argument("--target-psnr", type=float, default=31.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--quick", action="store_true", help="tiny CPU rehearsal of the whole script")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = pick_device("auto")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    steps, warmup, eval_every = (2, 1, 4) if args.quick else (40, 10, 500)
    # eager fp32, bf16 and the CUDA-graph rows (torch.compile mode reduce-overhead) of each; the
    # eager module without srgan.speed's paths as the before; CUDA graphs need CUDA (not --quick)
    variants = ["ours-fp32", "ours-bf16", "eager-fp32"]
    if device.type == "cuda":
        variants += ["ours-cudagraphs", "ours-bf16-cudagraphs"]
    train_sets = [sub for sub in ("T91", "Set14", "BSD100") if (args.data / sub).is_dir()]  # prepare's
    train_paths = [p for sub in train_sets for p in list_images(args.data / sub)]
    report = [f"# GPU check: {name}, torch {torch.__version__}\n"]
    t0 = time.perf_counter()

    print("pipeline smoke (run_pretrain + run_gan on this device) ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        smoke = pipeline_smoke(args.data / "Set5", device, Path(tmp), precision="bf16")
    report += ["## Pipeline stages on this device (bf16 autocast, 2 + 2 epochs on Set5 crops)\n",
               markdown(smoke), ""]
    print(markdown(smoke), flush=True)

    print("tiled vs whole-image inference ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepare_eval_set(args.data / "Set5", Path(tmp) / "eval", scale=4)
        tiling = [tiling_check(Path(tmp) / "eval", device)]
    report += ["## Tiled vs whole-image SR (16 blocks, tile 16, default overlap 40)\n", markdown(tiling), ""]
    print(markdown(tiling), flush=True)

    print("srgan upscale speed ...", flush=True)
    upscale = upscale_speed(device, shape=(96, 128) if args.quick else (750, 1000))
    report += ["## srgan upscale's tiler: 1000x750 -> 4000x3000, 16 blocks\n", markdown(upscale), ""]
    print(markdown(upscale), flush=True)

    print("throughput ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        big = [p for p in train_paths if min(tt.Image.open(p).size) >= 96]
        write_image_store(big, Path(tmp) / "store", scale=4)
        rows = throughput_table(big, ImageStore(Path(tmp) / "store"), device, steps, warmup, variants)
    report += ["## Step throughput (batch 16, 96x96 HR)\n", markdown(rows), ""]
    (args.out / "gpu_check.md").write_text("\n".join(report) + "\n")
    print(markdown(rows), flush=True)

    print(f"time to Set5 >= {args.target_psnr} dB ...", flush=True)
    budget = 2 if args.quick else min(args.psnr_budget_s, args.deadline_s - (time.perf_counter() - t0) - 30)
    with tempfile.TemporaryDirectory() as tmp:
        curve, reached = time_to_psnr(train_paths, args.data / "Set5", device, budget_s=budget,
                                      target=args.target_psnr, lr=args.lr, eval_every=eval_every,
                                      work=Path(tmp))
    pd.DataFrame(curve).to_csv(args.out / "psnr_curve.csv", index=False)
    best = max((row["set5_psnr"] for row in curve), default=math.nan)
    verdict = (f"reached {args.target_psnr} dB after {reached:.0f} s of training" if reached is not None
               else f"not reached within {budget:.0f} s: best {best:.2f} dB")
    report += [f"## SRResNet time to Set5 Y-PSNR >= {args.target_psnr} dB\n",
               f"Paper SRResNet, precision auto ({resolve_precision(device, 'auto')}), channels_last, batch 16, "
               f"Adam lr {args.lr}, trained on "
               f"{' + '.join(train_sets)} ({len(train_paths)} images, fresh random crops of distinct images every batch); Set5 evaluated in fp32 every "
               f"{eval_every} iterations (not counted in the clock): **{verdict}**.\n",
               markdown(curve) if curve else "(no evaluation point)", "",
               f"Total wall time of the check: {time.perf_counter() - t0:.0f} s"]
    (args.out / "gpu_check.md").write_text("\n".join(report) + "\n")
    print("\n".join(report[-4:]), flush=True)


if __name__ == "__main__":
    main()
