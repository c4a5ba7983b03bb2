"""Training data and evaluation pairs, made once so that no PNG is decoded while training.

Training data is an image store: every (mod-cropped) training image and its MATLAB-bicubic LR,
uint8, concatenated in ``hr.bin`` and ``lr.bin``, with ``index.json`` giving each image's name,
shape, byte offsets and sha256. :func:`write_image_store` writes it one image at a time, so peak
memory does not grow with the number of images; :class:`ImageStore` reads it memory-mapped. This
module owns the format: both sides live here.

Training batches come from :class:`CropSampler`, in one of two modes:

- ``random`` (Ledig et al. 2017: "16 random 96x96 HR sub images of distinct training images" per
  minibatch; BasicSR does the same): every minibatch draws fresh crops of distinct images;
- ``fixed`` (the student report, which cut its training set once into 96x96 crops): ``per_image``
  crop positions per image, drawn once, cycled in a seeded order per epoch.

Either way the LR crop is cut from the LR of the whole image at the matching position, on the
scale grid, so that it is exactly the interior of the evaluation-style LR image. Every batch is a
pure function of (seed, iteration), which makes a resumed run draw what the original would have.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from srgan.imresize import imresize, modcrop
from srgan.io import atomic_dir, file_hash, list_images, load_rgb, save_png, write_text

log = logging.getLogger(__name__)

STORE_FORMAT = "srgan-image-store-1"
SAMPLING_MODES = ("random", "fixed")


def write_image_store(hr_paths: list[Path], out_dir: Path, *, scale: int) -> int:
    """Write the mod-cropped HR images and their MATLAB-bicubic LR to an image store in
    ``out_dir`` (atomically: a folder that replaces ``out_dir`` only when complete); return the
    number of images. One image is decoded at a time."""
    images, hr_offset, lr_offset, too_small = [], 0, 0, []
    with atomic_dir(out_dir) as tmp:
        with open(tmp / "hr.bin", "wb") as hr_file, open(tmp / "lr.bin", "wb") as lr_file:
            for path in tqdm(hr_paths, desc="image store", unit="img", file=sys.stderr, mininterval=5):
                hr = load_rgb(path, max_pixels=None)  # the pipeline's own PNGs, checked on the way in
                if min(hr.shape[:2]) < scale:  # no LR pixel at all: it can never give a crop
                    too_small.append(path.name)
                    continue
                hr = modcrop(hr, scale)
                lr = imresize(hr, 1 / scale)
                hr_bytes, lr_bytes = hr.tobytes(), np.ascontiguousarray(lr).tobytes()
                hr_file.write(hr_bytes)
                lr_file.write(lr_bytes)
                images.append({"name": path.stem, "height": hr.shape[0], "width": hr.shape[1],
                               "hr_offset": hr_offset, "lr_offset": lr_offset,
                               "hr_sha256": hashlib.sha256(hr_bytes).hexdigest(),
                               "lr_sha256": hashlib.sha256(lr_bytes).hexdigest()})
                hr_offset += len(hr_bytes)
                lr_offset += len(lr_bytes)
                del hr, lr, hr_bytes, lr_bytes
        write_text(tmp / "index.json", json.dumps(
            {"format": STORE_FORMAT, "scale": scale, "hr_bytes": hr_offset, "lr_bytes": lr_offset,
             "images": images}, indent=1) + "\n")
    if too_small:
        log.warning("left out %d of %d images smaller than the scale %d: %s", len(too_small),
                    len(hr_paths), scale, ", ".join(too_small[:10]))
    log.info("wrote an image store of %d images (%.1f MB HR, %.1f MB LR) to %s", len(images),
             hr_offset / 1e6, lr_offset / 1e6, out_dir)
    return len(images)


def prepare_train_store(hr_dir: Path, out_dir: Path, *, scale: int) -> int:
    """Rule prepare_train: :func:`write_image_store` of every image of a dataset's HR folder, in
    name order (the store's image order, which seeds the crop order)."""
    return write_image_store(list_images(hr_dir), Path(out_dir), scale=scale)


class ImageStore:
    """The reader of :func:`write_image_store`'s folder: images as read-only memory-mapped views."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        index_path = self.folder / "index.json"
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path} does not exist: {self.folder} is not an image "
                                    f"store (rerun the prepare_train rule)")
        index = json.loads(index_path.read_text())
        if index.get("format") != STORE_FORMAT:
            raise ValueError(f"{index_path} is format {index.get('format')!r}, expected {STORE_FORMAT!r}")
        self.scale, self.images = int(index["scale"]), index["images"]
        self.hr = np.memmap(self.folder / "hr.bin", dtype=np.uint8, mode="r") if index["hr_bytes"] else None
        self.lr = np.memmap(self.folder / "lr.bin", dtype=np.uint8, mode="r") if index["lr_bytes"] else None

    def __len__(self) -> int:
        return len(self.images)

    def hr_image(self, i: int) -> np.ndarray:
        """HR image ``i``, uint8 HxWx3 (a view of the memory map)."""
        entry = self.images[i]
        h, w = entry["height"], entry["width"]
        return self.hr[entry["hr_offset"]:entry["hr_offset"] + h * w * 3].reshape(h, w, 3)

    def lr_image(self, i: int) -> np.ndarray:
        """LR image ``i``, uint8 (H/scale)x(W/scale)x3 (a view of the memory map)."""
        entry = self.images[i]
        h, w = entry["height"] // self.scale, entry["width"] // self.scale
        return self.lr[entry["lr_offset"]:entry["lr_offset"] + h * w * 3].reshape(h, w, 3)

    def digest(self) -> str:
        """Identity of the store's content: its index holds the sha256 of every image's pixels."""
        return file_hash(self.folder / "index.json")


def epoch_order(n: int, batch_size: int, *, seed: int, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch: a permutation seeded by (seed, epoch), last partial batch dropped."""
    if n < batch_size:
        raise ValueError(f"only {n} crops for a batch of {batch_size}; draw more patches per image")
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator)
    return list(order[: n - n % batch_size].split(batch_size))


class CropSampler:
    """Aligned HR/LR training crops of an :class:`ImageStore`, batch by batch (see module doc).

    An epoch is ``per_image`` crops of every usable image, in both modes (in ``random`` mode it
    sets only how often snapshots are taken and what ``epochs`` means). Images smaller than
    ``hr_size`` are left out, with one warning that counts them. ``augment`` adds BasicSR's random
    horizontal and vertical flips and 90-degree rotation (a transpose), each with probability 1/2.
    """

    def __init__(self, store: ImageStore, *, hr_size: int, per_image: int, batch_size: int,
                 seed: int, mode: str = "random", augment: bool = False) -> None:
        if mode not in SAMPLING_MODES:
            raise ValueError(f"unknown sampling mode {mode!r}; expected one of {SAMPLING_MODES}")
        if hr_size % store.scale:
            raise ValueError(f"hr_size {hr_size} is not a multiple of the store's scale {store.scale}")
        self.store, self.hr_size, self.lr_size = store, hr_size, hr_size // store.scale
        self.batch_size, self.seed, self.mode, self.augment = batch_size, seed, mode, augment
        sizes = [(im["height"], im["width"]) for im in store.images]
        self.usable = np.array([i for i, (h, w) in enumerate(sizes) if min(h, w) >= hr_size], dtype=np.int64)
        skipped = [store.images[i]["name"] for i, (h, w) in enumerate(sizes) if min(h, w) < hr_size]
        if skipped:
            log.warning("skipped %d of %d images smaller than the %dx%d crop: %s", len(skipped),
                        len(sizes), hr_size, hr_size, ", ".join(skipped[:10]))
        if not len(self.usable):
            raise ValueError(f"no training image in {store.folder} is at least {hr_size}x{hr_size} pixels")
        self.crop_count = len(self.usable) * per_image
        self.per_epoch = self.crop_count // batch_size
        if self.per_epoch == 0:
            raise ValueError(f"only {self.crop_count} crops per epoch for a batch of {batch_size}; "
                             f"draw more patches per image")
        # Highest top-left corner, in LR pixels, of each image's crops.
        self.max_y = np.array([sizes[i][0] // store.scale - self.lr_size for i in range(len(sizes))])
        self.max_x = np.array([sizes[i][1] // store.scale - self.lr_size for i in range(len(sizes))])
        if mode == "fixed":
            rng = np.random.default_rng(seed)
            ys, xs = [], []
            for i in self.usable:  # the draws of the once-cut crop set, image by image
                ys.append(rng.integers(0, self.max_y[i] + 1, size=per_image))
                xs.append(rng.integers(0, self.max_x[i] + 1, size=per_image))
            self.fixed = (np.repeat(self.usable, per_image), np.concatenate(ys), np.concatenate(xs))
        elif len(self.usable) < batch_size:
            log.warning("random sampling: %d usable images for a batch of %d, so a batch repeats "
                        "images (the paper draws distinct ones)", len(self.usable), batch_size)

    @functools.lru_cache(maxsize=2)
    def _epoch(self, epoch: int) -> list[torch.Tensor]:
        return epoch_order(self.crop_count, self.batch_size, seed=self.seed, epoch=epoch)

    def crops(self, iteration: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.random.Generator]:
        """(image index, LR top, LR left) of each crop of batch ``iteration`` (0-based), and the
        generator that the batch's augmentation draws from."""
        rng = np.random.default_rng([self.seed, iteration])
        if self.mode == "fixed":
            rows = np.sort(self._epoch(iteration // self.per_epoch + 1)[iteration % self.per_epoch].numpy())
            images, ys, xs = (a[rows] for a in self.fixed)
            return images, ys, xs, rng
        if len(self.usable) >= self.batch_size:
            images = rng.choice(self.usable, self.batch_size, replace=False)
        else:
            repeats = -(-self.batch_size // len(self.usable))
            images = np.concatenate([rng.permutation(self.usable) for _ in range(repeats)])[: self.batch_size]
        ys = rng.integers(0, self.max_y[images] + 1)
        xs = rng.integers(0, self.max_x[images] + 1)
        return images, ys, xs, rng

    def batch(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        """LR (B, h, w, 3) and HR (B, H, W, 3) uint8 crops of batch ``iteration``."""
        images, ys, xs, rng = self.crops(iteration)
        s, l = self.store.scale, self.lr_size
        hr = np.empty((len(images), self.hr_size, self.hr_size, 3), dtype=np.uint8)
        lr = np.empty((len(images), l, l, 3), dtype=np.uint8)
        flips = rng.random((len(images), 3)) < 0.5 if self.augment else None
        for k, (i, y, x) in enumerate(zip(images, ys, xs)):
            hr_crop = self.store.hr_image(i)[y * s:(y + l) * s, x * s:(x + l) * s]
            lr_crop = self.store.lr_image(i)[y:y + l, x:x + l]
            if flips is not None:
                hr_crop, lr_crop = augment_pair(hr_crop, lr_crop, *flips[k])
            hr[k], lr[k] = hr_crop, lr_crop
        return lr, hr


def augment_pair(hr: np.ndarray, lr: np.ndarray, hflip: bool, vflip: bool,
                 rotate: bool) -> tuple[np.ndarray, np.ndarray]:
    """The same flips and 90-degree rotation (transpose) of an HWC HR crop and its LR crop."""
    for flag, op in ((hflip, lambda a: a[:, ::-1]), (vflip, lambda a: a[::-1]),
                     (rotate, lambda a: a.transpose(1, 0, 2))):
        if flag:
            hr, lr = op(hr), op(lr)
    return hr, lr


def to_device(lr: np.ndarray | torch.Tensor, hr: np.ndarray | torch.Tensor,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 NHWC crops -> LR (B, 3, h, w) in [0, 1] and HR (B, 3, H, W) in [-1, 1] on ``device``,
    channels_last. The uint8 bytes cross to the device and are converted there."""
    lr, hr = torch.as_tensor(lr), torch.as_tensor(hr)
    lr, hr = lr.to(device, non_blocking=True), hr.to(device, non_blocking=True)
    # NHWC memory permuted to NCHW is already the channels_last layout.
    lr = lr.permute(0, 3, 1, 2).float().div_(255)
    hr = hr.permute(0, 3, 1, 2).float().div_(127.5).sub_(1)
    return lr, hr


class Prefetcher:
    """Batches ``start .. stop - 1`` of a sampler, assembled by a background thread while the
    current step runs (pinned host memory on CUDA, so that the copy overlaps the step too).

    Iterating yields device tensors; ``wait_seconds`` adds up the time the step waited for data.
    Batches depend only on their iteration, so prefetching never changes what is drawn.
    """

    def __init__(self, sampler: CropSampler, *, start: int, stop: int, device: torch.device,
                 depth: int = 2) -> None:
        self.sampler, self.start, self.stop, self.device = sampler, start, stop, device
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.wait_seconds = 0.0
        self.thread = threading.Thread(target=self._produce, name="batch-prefetch", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        try:
            for iteration in range(self.start, self.stop):
                lr, hr = (torch.from_numpy(a) for a in self.sampler.batch(iteration))
                if self.device.type == "cuda":
                    lr, hr = lr.pin_memory(), hr.pin_memory()
                while not self.stopping.is_set():
                    try:
                        self.queue.put((lr, hr), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self.stopping.is_set():
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            self.queue.put(error)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.start, self.stop):
            began = time.perf_counter()
            item = self.queue.get()
            self.wait_seconds += time.perf_counter() - began
            if isinstance(item, BaseException):
                raise item
            yield to_device(*item, self.device)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def min_eval_side(scale: int) -> int:
    """The smallest HR side that both metric protocols can score: the standard protocol crops
    ``scale`` pixels from each border, and SSIM's Gaussian window is 11 pixels wide."""
    return 2 * scale + 11


def prepare_eval_set(hr_dir: Path, out_dir: Path, *, scale: int) -> int:
    """Write ``out_dir/HR`` (mod-cropped) and ``out_dir/LR`` (MATLAB bicubic 1/scale) PNG pairs;
    return their count. Images too small to score (:func:`min_eval_side`) are left out with one
    warning that names and counts them; a set left with none is an error."""
    files = list_images(hr_dir)
    if not files:
        raise ValueError(f"evaluation folder {hr_dir} holds no images")
    too_small, kept = [], 0
    with atomic_dir(out_dir) as tmp:
        for path in files:
            image = load_rgb(path, max_pixels=None)  # the pipeline's own PNGs, checked on the way in
            if min(side // scale * scale for side in image.shape[:2]) < min_eval_side(scale):
                too_small.append(f"{path.name} ({image.shape[1]}x{image.shape[0]})")
                continue
            hr = modcrop(image, scale)
            save_png(tmp / "HR" / f"{path.stem}.png", hr)
            save_png(tmp / "LR" / f"{path.stem}.png", imresize(hr, 1 / scale))
            kept += 1
        if not kept:
            raise ValueError(f"no image of {hr_dir} is large enough to evaluate at scale {scale} "
                             f"(at least {min_eval_side(scale)} pixels a side): {', '.join(too_small)}")
    if too_small:
        log.warning("left out %d of %d images of %s smaller than %d pixels a side, too small to "
                    "score at scale %d: %s", len(too_small), len(files), hr_dir,
                    min_eval_side(scale), scale, ", ".join(too_small[:10]))
    return kept


def load_eval_set(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, LR, HR) uint8 RGB triples of a folder written by :func:`prepare_eval_set`."""
    folder = Path(folder)
    return [(path.stem, load_rgb(folder / "LR" / path.name, max_pixels=None), load_rgb(path, max_pixels=None))
            for path in list_images(folder / "HR")]
