"""Run a generator (or bicubic) over an evaluation set: per-image PSNR/SSIM and the SR images;
and score a training stage's snapshots on the validation sets (the per-epoch evaluation stage).

Images are uint8 HxWx3 RGB throughout; the generator takes LR in [0, 1] and returns SR in [-1, 1]
(tanh), which is mapped back to uint8 by rounding, as a saved PNG would be. Generators run in
overlapping LR tiles (``super_resolve``), so memory is bounded by the tile, not the image.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from srgan import metrics
from srgan.checkpoint import CheckpointError, load_checkpoint
from srgan.imresize import imresize
from srgan.io import atomic_dir, atomic_path, save_png, write_text
from srgan.models import SRResNet, receptive_radius
from srgan.patches import load_eval_set
from srgan.perceptual import load_lpips, lpips_distance

log = logging.getLogger(__name__)

EvalPair = tuple[str, np.ndarray, np.ndarray]  # (name, LR uint8 HxWx3, HR uint8 HxWx3)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU; use device: auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' was asked for, but it is not available; use device: auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; expected auto, cpu, cuda or mps")
    return torch.device(name)


def sr_to_uint8(sr: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [-1, 1] -> uint8 HxWx3, rounded to nearest."""
    image = ((sr[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # (3, H, W)
    return image.permute(1, 2, 0).cpu().numpy()


def sr_to_float(sr: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [-1, 1] -> float32 HxWx3 in [-1, 1], unrounded (for comparisons)."""
    return sr[0].float().permute(1, 2, 0).cpu().numpy()


# LR pixels a side of the pieces in which a tile's upsampling runs. Upsampling holds 16C floats or
# more per LR pixel (against C in the trunk), so a tile reconstructed whole would need about 8x the
# memory of its trunk; pieces of this size cost 5% extra compute (their 3-pixel halos) and keep the
# tile's memory that of its trunk. Chosen with benchmarks/upscale.py.
RECONSTRUCT_PIECE = 128

Span = tuple[int, int, int, int]  # (start, stop, in_start, in_stop), see tile_spans


def tile_spans(length: int, *, tile: int, overlap: int, first: int = 0,
               last: int | None = None) -> list[Span]:
    """Split LR pixels ``[first, last)`` (default: all ``length``) into tiles:
    ``(start, stop, in_start, in_stop)`` per tile.

    ``[start, stop)`` is the part the tile keeps (``tile`` pixels, fewer at the end) and
    ``[in_start, in_stop)`` what it reads: the kept part extended by ``overlap`` on each side,
    clipped to ``[0, length)``, so a tile's edge is either the image's edge (padded as the whole
    image is) or ``overlap`` pixels from what it keeps.
    """
    last = length if last is None else last
    return [(start, min(start + tile, last), max(start - overlap, 0),
             min(start + tile + overlap, length)) for start in range(first, last, tile)]


def tile_count(height: int, width: int, *, tile: int) -> int:
    """How many tiles ``super_resolve`` runs for an HxW LR image (for progress bars)."""
    if tile == 0:
        return 1
    return math.ceil(height / tile) * math.ceil(width / tile)


def reconstruct_radius(generator: SRResNet) -> int:
    """Receptive radius of the upsampling part alone (3 LR pixels at x4): the halo its pieces need."""
    return receptive_radius(nn.Sequential(generator.upsample, generator.tail))


def _reconstruct_in_pieces(generator: SRResNet, features: torch.Tensor, rows: tuple[int, int],
                           cols: tuple[int, int]) -> torch.Tensor:
    """``generator.reconstruct(features)`` cropped to LR rows and cols ``[start, stop)``, computed in
    pieces of ``RECONSTRUCT_PIECE`` LR pixels with the upsampling's own halo, so memory holds one
    piece's upsampled activations. Equal to the whole reconstruction (the halo is its exact
    receptive radius), and only the kept part of a tile is upsampled at all."""
    halo, scale = reconstruct_radius(generator), generator.scale
    height, width = features.shape[-2:]
    out = None
    for top, bottom, in_top, in_bottom in tile_spans(height, tile=RECONSTRUCT_PIECE, overlap=halo,
                                                     first=rows[0], last=rows[1]):
        for left, right, in_left, in_right in tile_spans(width, tile=RECONSTRUCT_PIECE, overlap=halo,
                                                         first=cols[0], last=cols[1]):
            sr = generator.reconstruct(features[..., in_top:in_bottom, in_left:in_right])
            y0, x0 = (top - in_top) * scale, (left - in_left) * scale
            if out is None:
                out = sr.new_empty((*sr.shape[:2], (rows[1] - rows[0]) * scale, (cols[1] - cols[0]) * scale))
            out[..., (top - rows[0]) * scale:(bottom - rows[0]) * scale,
                (left - cols[0]) * scale:(right - cols[0]) * scale] = \
                sr[..., y0:y0 + (bottom - top) * scale, x0:x0 + (right - left) * scale]
    return out


def _sr_kept(generator: nn.Module, x: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int],
             *, lean: bool) -> torch.Tensor:
    """SR of the LR tiles ``x`` (B, 3, h, w), cropped to the kept LR ``rows`` and ``cols``.
    ``lean``: trunk on the whole tile, upsampling of the kept part in pieces (SRResNet only)."""
    if lean:
        return _reconstruct_in_pieces(generator, generator.features(x), rows, cols)
    sr = generator(x)  # (B, 3, s*h, s*w)
    scale = sr.shape[-2] // x.shape[-2]
    assert sr.shape[-2:] == (scale * x.shape[-2], scale * x.shape[-1]), sr.shape
    return sr[..., rows[0] * scale:rows[1] * scale, cols[0] * scale:cols[1] * scale]


@torch.inference_mode()
def _tiled(generator: nn.Module, lr: np.ndarray, *, device: torch.device, tile: int,
           overlap: int | None, to_numpy: Callable[[torch.Tensor], np.ndarray], batch: int = 1,
           autocast: torch.dtype | None = None, on_tiles: Callable[[int], None] | None = None
           ) -> np.ndarray:
    """The one tiler behind ``super_resolve`` and ``super_resolve_float``: SR tile by tile, each
    tile's centre written in place into the HR array (allocated at the first tile, with the dtype
    ``to_numpy`` gives), so memory holds the LR, the HR and one batch of tiles' activations.

    Tiles that read the same shape and keep the same part of it (all interior tiles) run up to
    ``batch`` at a time, which keeps a GPU busy; on a CPU a batch only multiplies the memory.
    """
    if tile < 0:
        raise ValueError(f"tile must be >= 0 LR pixels (0: the whole image), got {tile}")
    if overlap is not None and overlap < 0:
        raise ValueError(f"overlap must be >= 0 LR pixels (None: the receptive radius), got {overlap}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1 tile, got {batch}")
    if lr.ndim != 3 or lr.shape[2] != 3 or lr.dtype != np.uint8 or 0 in lr.shape:
        raise ValueError(f"lr must be a non-empty uint8 HxWx3 array, got {lr.dtype} {lr.shape}")
    height, width = lr.shape[:2]
    lean = tile > 0 and isinstance(generator, SRResNet)
    if tile == 0 or (height <= tile and width <= tile):
        tile, overlap = max(height, width), 0  # one tile: the whole image
    elif overlap is None:
        overlap = receptive_radius(generator)
    groups: dict[tuple, list[tuple[Span, Span]]] = {}
    for rows in tile_spans(height, tile=tile, overlap=overlap):
        for cols in tile_spans(width, tile=tile, overlap=overlap):
            key = (rows[3] - rows[2], cols[3] - cols[2], rows[0] - rows[2], rows[1] - rows[2],
                   cols[0] - cols[2], cols[1] - cols[2])  # read shape and kept part
            groups.setdefault(key, []).append((rows, cols))
    dtype = next(generator.parameters()).dtype
    was_training = generator.training
    generator.eval()
    out = None
    try:
        for (_, _, top, bottom, left, right), members in groups.items():
            for first in range(0, len(members), batch):
                chunk = members[first:first + batch]
                x = torch.stack([torch.from_numpy(lr[r[2]:r[3], c[2]:c[3]].copy())
                                 for r, c in chunk]).to(device)  # (b, h_in, w_in, 3) uint8
                x = x.permute(0, 3, 1, 2).to(dtype).div(255).contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                    sr = _sr_kept(generator, x, (top, bottom), (left, right), lean=lean)
                scale = sr.shape[-2] // (bottom - top)
                for i, (r, c) in enumerate(chunk):
                    centre = to_numpy(sr[i:i + 1])
                    if out is None:
                        out = np.empty((height * scale, width * scale, 3), dtype=centre.dtype)
                    out[r[0] * scale:r[1] * scale, c[0] * scale:c[1] * scale] = centre
                if on_tiles is not None:
                    on_tiles(len(chunk))
    finally:
        generator.train(was_training)
    return out


def super_resolve(generator: nn.Module, lr: np.ndarray, *, device: torch.device, tile: int = 0,
                  overlap: int | None = None, batch: int = 1, autocast: torch.dtype | None = None,
                  on_tiles: Callable[[int], None] | None = None) -> np.ndarray:
    """SR of one uint8 HxWx3 LR image with ``generator`` in eval mode (BN running statistics):
    uint8 (scale*H)x(scale*W)x3, the tanh output in [-1, 1] rounded as a saved PNG would be.

    ``tile`` > 0 runs LR tiles of ``tile`` x ``tile`` pixels, each extended by ``overlap`` LR
    pixels on every side that has image and keeping only its centre, so memory is bounded by
    ``tile + 2 * overlap`` a side, not by the image. The default overlap,
    ``receptive_radius(generator)``, makes the result whole-image inference up to float summation
    order (1e-5 before rounding). ``tile=0`` runs the whole image in one plain forward.
    ``batch`` tiles of one shape run together; ``autocast`` (e.g. torch.bfloat16) runs the
    network under autocast; ``on_tiles(n)`` is called as tiles finish (progress bars).
    """
    return _tiled(generator, lr, device=device, tile=tile, overlap=overlap, to_numpy=sr_to_uint8,
                  batch=batch, autocast=autocast, on_tiles=on_tiles)


def super_resolve_float(generator: nn.Module, lr: np.ndarray, *, device: torch.device,
                        tile: int = 0, overlap: int | None = None, batch: int = 1) -> np.ndarray:
    """``super_resolve`` before rounding: float32 HxWx3 in [-1, 1]. Holds 4 bytes per HR value,
    so it is for tests and small images; it exists so that tiling can be checked to 1e-5."""
    return _tiled(generator, lr, device=device, tile=tile, overlap=overlap, to_numpy=sr_to_float,
                  batch=batch)


LpipsFn = Callable[[np.ndarray, np.ndarray], float]  # (SR, HR) uint8 -> LPIPS


def lpips_scorer(metric: nn.Module | None, *, scale: int, protocol: str) -> LpipsFn | None:
    """LPIPS of (SR, HR) under ``protocol`` (the standard one crops ``scale`` border pixels, as
    for PSNR); None when LPIPS is unavailable, and the column then reads NaN ("n/a")."""
    if metric is None:
        return None
    border = scale if protocol == "standard" else 0
    return lambda sr, hr: lpips_distance(metric, sr, hr, border=border)


def score_image(sr: np.ndarray, hr: np.ndarray, *, scale: int, protocol: str, round_y: bool = True,
                lpips: LpipsFn | None = None) -> dict[str, float]:
    """PSNR, SSIM (under ``protocol``) and LPIPS (NaN where ``lpips`` is None) of one SR image:
    what evaluation and the per-epoch snapshot scoring both measure."""
    return {"psnr": metrics.psnr(sr, hr, scale=scale, protocol=protocol, round_y=round_y),
            "ssim": metrics.ssim(sr, hr, scale=scale, protocol=protocol, round_y=round_y),
            "lpips": lpips(sr, hr) if lpips is not None else np.nan}


def evaluate_pairs(pairs: Sequence[EvalPair], predict: Callable[[np.ndarray], np.ndarray], *,
                   scale: int, protocol: str, round_y: bool = True,
                   image_dir: Path | None = None, lpips: LpipsFn | None = None) -> pd.DataFrame:
    """Per-image PSNR/SSIM/LPIPS of ``predict(LR)`` against HR; saves the SR PNGs to
    ``image_dir``. LPIPS is NaN where ``lpips`` is None (unavailable)."""
    rows = []
    for name, lr, hr in pairs:
        sr = predict(lr)
        if sr.shape != hr.shape:
            raise ValueError(f"{name}: SR shape {sr.shape} differs from HR shape {hr.shape}")
        rows.append({"image": name, **score_image(sr, hr, scale=scale, protocol=protocol,
                                                  round_y=round_y, lpips=lpips)})
        if image_dir is not None:
            save_png(Path(image_dir) / f"{name}.png", sr)
    return pd.DataFrame(rows, columns=["image", "psnr", "ssim", "lpips"])


def bicubic_predictor(scale: int) -> Callable[[np.ndarray], np.ndarray]:
    """MATLAB-bicubic upscaling, the baseline row of every table."""
    return lambda lr: imresize(lr, scale)


def generator_predictor(generator: nn.Module, device: torch.device, *,
                        tile: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """``super_resolve`` in ``tile`` x ``tile`` LR tiles (0: whole images), for ``evaluate_pairs``."""
    return lambda lr: super_resolve(generator, lr, device=device, tile=tile)


def generator_from_checkpoint(state: Mapping, *, source: Path) -> SRResNet:
    """The SRResNet of a generator checkpoint or snapshot (``model_args`` + ``generator``)."""
    if "generator" not in state or "model_args" not in state:
        kind = state.get("kind") or ("discriminator" if "discriminator" in state else "unknown")
        raise CheckpointError(
            f"{source} is not a generator checkpoint (it holds a {kind} checkpoint); use "
            f"results/<exp>/srgan/generator.pt or results/<exp>/srresnet/generator.pt")
    generator = SRResNet(**state["model_args"])
    generator.load_state_dict(state["generator"])
    return generator


def load_generator(checkpoint: Path, *, device: torch.device) -> SRResNet:
    """Rebuild the generator from a self-describing checkpoint, loaded without running code."""
    generator = generator_from_checkpoint(load_checkpoint(checkpoint), source=Path(checkpoint))
    return generator.to(device).to(memory_format=torch.channels_last).eval()


def lpips_from_status(status_file: Path, *, weights_path: str | None, scale: int,
                      protocol: str) -> LpipsFn | None:
    """The LPIPS scorer of an evaluation job, given its ``lpips_network`` file
    (:func:`write_lpips_status`): None when that says unavailable, so no job tries again."""
    status = read_lpips_status(status_file)
    if not status["available"]:
        log.warning("LPIPS is n/a: %s", status["reason"])
        return None
    metric, _ = load_lpips(weights_path=weights_path, allow_unavailable=False)
    return lpips_scorer(metric, scale=scale, protocol=protocol)


def lpips_status(*, weights_path: str | None, allow_unavailable: bool) -> dict:
    """Whether LPIPS can be computed, decided once per LPIPS setting (rule lpips_network): the
    tables, figures and report say "n/a" with this reason."""
    metric, source = load_lpips(weights_path=weights_path, allow_unavailable=allow_unavailable)
    if metric is None:
        return {"available": False, "reason": source}
    return {"available": True, "source": source, "metric": "LPIPS (AlexNet, v0.1, torchmetrics)"}


def write_lpips_status(path: Path, *, weights_path: str | None, allow_unavailable: bool) -> dict:
    """Rule lpips_network: :func:`lpips_status` as the experiment's ``lpips_network.json``."""
    status = lpips_status(weights_path=weights_path, allow_unavailable=allow_unavailable)
    write_text(path, json.dumps(status, indent=1) + "\n")
    return status


def read_lpips_status(path: Path) -> dict:
    """An experiment's ``lpips_network.json``, as :func:`write_lpips_status` wrote it."""
    return json.loads(Path(path).read_text())


def write_metrics_csv(frame: pd.DataFrame, path: Path) -> None:
    """Per-image metrics plus a final ``mean`` row, written atomically."""
    mean = pd.DataFrame([{"image": "mean", **{column: frame[column].mean(skipna=False)
                                              for column in ("psnr", "ssim", "lpips")}}])
    with atomic_path(path) as tmp:
        pd.concat([frame, mean], ignore_index=True).to_csv(tmp, index=False, float_format="%.6f")


def evaluate_test_set(data_dir: Path, predict: Callable[[np.ndarray], np.ndarray], *,
                      lpips_status: Path, lpips_weights: str | None, scale: int, protocol: str,
                      round_y: bool, metrics_out: Path, images_out: Path) -> pd.DataFrame:
    """One method on one prepared evaluation set (``srgan.patches.prepare_eval_set``): the SR
    images into ``images_out`` (whole or not at all) and the per-image metrics CSV with its mean
    row; LPIPS only where the experiment's ``lpips_status`` file says it can be computed."""
    lpips = lpips_from_status(lpips_status, weights_path=lpips_weights,
                              scale=scale, protocol=protocol)
    with atomic_dir(Path(images_out)) as image_dir:
        frame = evaluate_pairs(load_eval_set(Path(data_dir)), predict, scale=scale, protocol=protocol,
                               round_y=round_y, image_dir=image_dir, lpips=lpips)
    write_metrics_csv(frame, Path(metrics_out))
    return frame


def evaluate_bicubic(data_dir: Path, *, lpips_status: Path, lpips_weights: str | None, scale: int,
                     protocol: str, round_y: bool, metrics_out: Path, images_out: Path) -> pd.DataFrame:
    """Rule bicubic_baseline: :func:`evaluate_test_set` of MATLAB-bicubic upscaling."""
    return evaluate_test_set(data_dir, bicubic_predictor(scale), lpips_status=lpips_status,
                             lpips_weights=lpips_weights, scale=scale, protocol=protocol,
                             round_y=round_y, metrics_out=metrics_out, images_out=images_out)


def evaluate_generator(checkpoint: Path, data_dir: Path, *, device: str, tile: int,
                       lpips_status: Path, lpips_weights: str | None, scale: int, protocol: str,
                       round_y: bool, metrics_out: Path, images_out: Path) -> pd.DataFrame:
    """Rule evaluate: :func:`evaluate_test_set` of a trained generator, run on ``device`` (a
    config name: auto, cpu, cuda, mps) in ``tile`` x ``tile`` LR tiles (0: whole images)."""
    torch_device = pick_device(device)
    predict = generator_predictor(load_generator(Path(checkpoint), device=torch_device), torch_device,
                                  tile=tile)
    return evaluate_test_set(data_dir, predict, lpips_status=lpips_status, lpips_weights=lpips_weights,
                             scale=scale, protocol=protocol, round_y=round_y, metrics_out=metrics_out,
                             images_out=images_out)


# -----------------------------------------------------------------------------
# the per-epoch evaluation stage


def center_box(shape: tuple[int, ...], size: int) -> tuple[int, int, int]:
    """(top, left, size) of the centred square crop the progression figure shows."""
    size = min(size, shape[0], shape[1])
    return (shape[0] - size) // 2, (shape[1] - size) // 2, size


def load_val_sets(val_dirs: Mapping[str, Path]) -> dict[str, list[EvalPair]]:
    return {name: load_eval_set(Path(folder)) for name, folder in val_dirs.items()}


def score_snapshot(generator: nn.Module, val_sets: Mapping[str, Sequence[EvalPair]], *,
                   device: torch.device, scale: int, protocol: str, round_y: bool = True,
                   tile: int = 0, lpips: LpipsFn | None = None) -> tuple[dict[str, float], np.ndarray | None]:
    """``{<set>_psnr, <set>_ssim, <set>_lpips}`` (means over the set, under ``protocol``; LPIPS
    NaN where ``lpips`` is None) of one generator, and
    its SR of the first image of the first non-empty set (the progression figure's). SR runs in
    ``tile`` x ``tile`` LR tiles (0: whole images); see ``super_resolve``."""
    row, first_sr = {}, None
    for name, pairs in val_sets.items():
        scores = []
        for _, lr, hr in pairs:
            sr = super_resolve(generator, lr, device=device, tile=tile)
            if first_sr is None:
                first_sr = sr
            scores.append(score_image(sr, hr, scale=scale, protocol=protocol, round_y=round_y, lpips=lpips))
        for metric in ("psnr", "ssim", "lpips"):
            row[f"{name}_{metric}"] = float(np.mean([score[metric] for score in scores]))
    return row, first_sr


def score_snapshots(snapshot_dir: Path, train_log: pd.DataFrame,
                    val_sets: Mapping[str, Sequence[EvalPair]], *, device: torch.device, scale: int,
                    protocol: str, round_y: bool = True, crop: int = 192,
                    tile: int = 0, lpips: LpipsFn | None = None) -> tuple[pd.DataFrame, dict]:
    """Score every snapshot of a training stage on the validation sets.

    Returns the stage's history (the training log, one row per evaluation point, with the
    ``<set>_psnr`` / ``<set>_ssim`` / ``<set>_lpips`` columns added) and the progression crops: a centred ``crop``
    of the first validation image's SR at every snapshot, as ``{"val_set", "image", "box",
    "epochs", "iterations", "crops"}`` (crops: uint8 K x size x size x 3). SR runs in ``tile`` x
    ``tile`` LR tiles (0: whole images); see ``super_resolve``.
    """
    # The file name holds the iteration (checkpoint.snapshot_path): each snapshot is loaded only
    # when it is scored, so memory holds one at a time.
    snapshots = {int(path.stem.removeprefix("iter_")): path
                 for path in sorted(Path(snapshot_dir).glob("iter_*.pt"))}
    expected = [int(i) for i in train_log["iteration"]]
    if sorted(snapshots) != expected:
        raise ValueError(f"{snapshot_dir} holds snapshots of iterations {sorted(snapshots)}, but the "
                         f"training log has evaluation points at {expected}; rerun the training rule")
    first = next(((name, pairs[0]) for name, pairs in val_sets.items() if pairs), None)
    box = center_box(first[1][2].shape, crop) if first else (0, 0, 0)
    rows, crops = [], []
    for iteration in expected:
        path = snapshots[iteration]
        state = load_checkpoint(path)
        generator = generator_from_checkpoint(state, source=path).to(device).to(memory_format=torch.channels_last)
        row, first_sr = score_snapshot(generator, val_sets, device=device, scale=scale,
                                       protocol=protocol, round_y=round_y, tile=tile, lpips=lpips)
        rows.append(row)
        if first_sr is not None:
            top, left, size = box
            crops.append(first_sr[top:top + size, left:left + size].copy())
        log.info("snapshot %s (epoch %s): %s", path.name, state["epoch"],
                 ", ".join(f"{k}={v:.4g}" for k, v in row.items()))
    history = train_log.reset_index(drop=True).copy()
    if rows and rows[0]:
        metrics_frame = pd.DataFrame(rows)
        history = history.drop(columns=[c for c in metrics_frame.columns if c in history.columns])
        history = pd.concat([history, metrics_frame], axis=1)
    size = box[2]
    progress = {"val_set": first[0] if first else "", "image": first[1][0] if first else "",
                "box": box, "epochs": train_log["epoch"].to_numpy(dtype=float),
                "iterations": np.asarray(expected, dtype=np.int64),
                "crops": np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)}
    return history, progress


def write_history(history: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        history.to_csv(tmp, index=False, float_format="%.6g")


def write_progress(progress: Mapping, path: Path) -> None:
    """The progression crops as one ``.npz``, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, val_set=np.array(progress["val_set"]), image=np.array(progress["image"]),
                     box=np.array(progress["box"]), epochs=progress["epochs"],
                     iterations=progress["iterations"], crops=progress["crops"])


def evaluate_snapshots(snapshot_dir: Path, train_log: Path, *, val_sets: Sequence[str],
                       val_dirs: Sequence[Path], device: str, tile: int, lpips_status: Path,
                       lpips_weights: str | None, scale: int, protocol: str, round_y: bool,
                       history_out: Path, progress_out: Path) -> pd.DataFrame:
    """Rule evaluate_snapshots: :func:`score_snapshots` of a training stage on the validation sets
    (``val_dirs[i]`` is the prepared set ``val_sets[i]``), written as the stage's history CSV and
    its progression crops; returns the history."""
    lpips = lpips_from_status(lpips_status, weights_path=lpips_weights,
                              scale=scale, protocol=protocol)
    history, progress = score_snapshots(
        Path(snapshot_dir), pd.read_csv(train_log),
        load_val_sets(dict(zip(val_sets, map(Path, val_dirs), strict=True))),
        device=pick_device(device), scale=scale, protocol=protocol, round_y=round_y, tile=tile,
        lpips=lpips)
    write_history(history, Path(history_out))
    write_progress(progress, Path(progress_out))
    return history
