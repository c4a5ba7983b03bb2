"""Image figures, pixel-exact: the report's progression figure (Vinh, Lam and Bao, Fig. 15) and
the LR | bicubic | SRResNet | SRGAN | HR comparison with a zoomed inset (the report's Fig. 16;
Ledig et al. 2017, Fig. 6).

Matplotlib never resamples here: each image is enlarged by an integer factor with pixel
replication (``nearest_upscale``), then drawn with ``interpolation="nearest"`` into an axes box of
exactly its size in pixels, at integer pixel offsets, in a figure whose size in pixels is fixed (no
``bbox_inches="tight"``). One source pixel is thus an exact ``zoom x zoom`` block of the PNG, in
its own colour: what looks sharp or blurry in a panel is what the method produced. Boxes that mark
the inset are burnt into the enlarged array (black-gold-black, no anti-aliasing).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from srgan import metrics  # noqa: E402
from srgan.charts import save_figure  # noqa: E402
from srgan.io import list_images, load_rgb  # noqa: E402
from srgan.tables import METHOD_LABELS  # noqa: E402

log = logging.getLogger(__name__)

# Font sizes in points at the saved size; the smallest is 9 pt.
TITLE_PT, LABEL_PT, NOTE_PT = 11, 10, 9
FRAME_INNER = (255, 200, 0)  # gold, between two black lines: visible on light and dark content
FRAME_OUTER = (0, 0, 0)
MIN_PANEL_INCHES = 1.2  # images smaller than this at the figure's dpi are enlarged (integer zoom)


def nearest_upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Pixel replication, to show an LR image at HR size without inventing detail."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The centred ``size x size`` window (or less along a side shorter than ``size``)."""
    height, width = image.shape[:2]
    top, left = max((height - size) // 2, 0), max((width - size) // 2, 0)
    return image[top:top + size, left:left + size]


def select_epochs(requested: Sequence[int], available: Sequence[float]) -> list[float]:
    """The requested epochs that have a snapshot, ascending and without repeats.

    Negative values count from the end of ``available`` (-1 is the last snapshot). ``available``
    may hold fractional epochs (snapshots every N iterations, or a last partial epoch). Requested
    epochs with no snapshot (a short smoke run) are left out and logged.
    """
    available = sorted(set(float(e) for e in available))
    if not available:
        raise ValueError("select_epochs: no snapshots available")
    chosen = []
    for epoch in requested:
        if epoch < 0 and -epoch <= len(available):
            chosen.append(available[epoch])
        elif float(epoch) in available:
            chosen.append(float(epoch))
        else:
            log.warning("epoch %d has no snapshot (available: %s); left out", epoch,
                        [f"{e:g}" for e in available])
    if not chosen:
        raise ValueError(f"none of the epochs {list(requested)} has a snapshot; available: "
                         f"{[f'{e:g}' for e in available]}")
    return sorted(set(chosen))


def most_different_window(a: np.ndarray, b: np.ndarray, *, size: int) -> tuple[int, int]:
    """Top-left ``(y, x)`` of the ``size x size`` window where ``a`` and ``b`` differ most.

    ``a``, ``b``: same-shape HxW or HxWxC arrays (uint8 RGB in the pipeline). The score of a
    window is the sum of ``|a - b|`` over its pixels and channels (the mean, times a constant),
    computed exactly for every position with an integral image: O(HxW), fast on 2K images. Ties
    go to the first window in row-major order. Returns (0, 0) when the image is smaller than
    ``size`` along either side.
    """
    if a.shape != b.shape:
        raise ValueError(f"most_different_window needs equal shapes, got {a.shape} and {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"most_different_window expects HxW or HxWxC arrays, got shape {a.shape}")
    if int(size) < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    height, width = a.shape[:2]
    if height < size or width < size:
        return 0, 0
    exact = np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)
    work = np.int64 if exact else np.float64
    diff = np.abs(a.astype(work) - b.astype(work))
    if diff.ndim == 3:
        diff = diff.sum(axis=2)  # (H, W)
    integral = np.zeros((height + 1, width + 1), dtype=work)
    integral[1:, 1:] = diff.cumsum(axis=0).cumsum(axis=1)
    sums = (integral[size:, size:] - integral[:-size, size:]
            - integral[size:, :-size] + integral[:-size, :-size])  # (H - size + 1, W - size + 1)
    y, x = divmod(int(np.argmax(sums)), sums.shape[1])
    return y, x


def _check_image(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        got = (image.dtype, image.shape) if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name} must be a uint8 HxWx3 RGB array, got {got}")


def _display_zoom(height: int, width: int, dpi: int) -> int:
    """Integer enlargement that makes a small image at least MIN_PANEL_INCHES on its long side."""
    return max(1, math.ceil(MIN_PANEL_INCHES * dpi / max(height, width)))


def _frame_width(dpi: int) -> int:
    """Pixels of the black-gold-black ring: 4 at 150 dpi, 5 at 200."""
    return max(3, round(dpi / 40))


def _draw_frame(canvas: np.ndarray, top: int, left: int, height: int, width: int, line: int) -> None:
    """Burn a ``line``-pixel black-gold-black ring around a box into ``canvas`` (in place).

    The ring lies outside the box where there is room and is pushed inside at the canvas edges.
    """
    rows, cols = canvas.shape[:2]
    y0, x0 = max(top - line, 0), max(left - line, 0)
    y1, x1 = min(top + height + line, rows), min(left + width + line, cols)
    for k in range(line):
        colour = FRAME_OUTER if k in (0, line - 1) else FRAME_INNER
        canvas[y0 + k, x0 + k:x1 - k] = colour
        canvas[y1 - 1 - k, x0 + k:x1 - k] = colour
        canvas[y0 + k:y1 - k, x0 + k] = colour
        canvas[y0 + k:y1 - k, x1 - 1 - k] = colour


def _framed(image: np.ndarray, line: int) -> np.ndarray:
    """``image`` on a canvas ``line`` pixels larger on every side, ringed like the marked box."""
    canvas = np.zeros((image.shape[0] + 2 * line, image.shape[1] + 2 * line, 3), dtype=np.uint8)
    canvas[line:-line, line:-line] = image
    _draw_frame(canvas, line, line, image.shape[0], image.shape[1], line)
    return canvas


def _image_grid(rows: Sequence[Sequence[tuple[str | None, np.ndarray]]], *, title: str, note: str,
                dpi: int) -> plt.Figure:
    """A figure of images drawn 1:1 (one array pixel = one PNG pixel), laid out in integer pixels.

    ``rows[r][c] = (label or None, uint8 HxWx3 already enlarged)``. Columns are as wide as their
    widest image or label; labels sit above their image; ``title`` on top, ``note`` at the bottom.
    """
    fig = plt.figure(dpi=dpi)
    renderer = fig.canvas.get_renderer()

    def text(s: str, size: int, *, wrap: int | None = None, **kw):
        """A centred text artist (wrapped at ``wrap`` pixels) and its size in pixels."""
        artist = fig.text(0, 0, s, fontsize=size, ha="center", multialignment="center", **kw)
        if wrap is not None:
            lines = []
            for paragraph in s.split("\n"):
                lines.append("")
                for word in paragraph.split(" "):
                    artist.set_text(f"{lines[-1]} {word}".lstrip())
                    if lines[-1] and artist.get_window_extent(renderer).width > wrap:
                        lines.append(word)
                    else:
                        lines[-1] = artist.get_text()
            artist.set_text("\n".join(lines))
        box = artist.get_window_extent(renderer)
        return artist, math.ceil(box.width), math.ceil(box.height)

    pad, gap = round(0.1 * dpi), round(0.03 * dpi)
    labels = [[text(label, LABEL_PT, va="bottom") if label else None for label, _ in row]
              for row in rows]
    n_cols = max(len(row) for row in rows)
    col_w = [max([row[c][1].shape[1] for row in rows if c < len(row)]
                 + [lab[1] for lab_row in labels if c < len(lab_row) and (lab := lab_row[c])])
             for c in range(n_cols)]
    label_h = [max([lab[2] + gap for lab in lab_row if lab] or [0]) for lab_row in labels]
    image_h = [max(image.shape[0] for _, image in row) for row in rows]
    grid_w = sum(col_w) + pad * (n_cols - 1)
    wrap = max(grid_w, round(4 * dpi))  # a narrow grid still gets a readable title and note
    title_artist, title_w, title_h = text(title, TITLE_PT, wrap=wrap, va="top")
    note_artist, note_w, note_h = text(note, NOTE_PT, wrap=wrap, va="bottom", color="0.25")

    width = max(grid_w, title_w, note_w) + 2 * pad
    left0 = (width - grid_w) // 2
    # pad, title, pad, then per row: label, image, pad; then the note and pad.
    height = pad + title_h + pad + sum(label_h) + sum(image_h) + pad * len(rows) + note_h + pad
    fig.set_size_inches(width / dpi, height / dpi)

    def frac(x: float, y: float) -> tuple[float, float]:  # pixels from top-left -> figure fraction
        return x / width, 1 - y / height

    title_artist.set_position(frac(width / 2, pad))
    y = pad + title_h + pad
    for row, lab_row, lab_h, img_h in zip(rows, labels, label_h, image_h):
        x = left0
        for c, (_, image) in enumerate(row):
            centre = x + col_w[c] // 2
            if lab_row[c]:
                lab_row[c][0].set_position(frac(centre, y + lab_h - gap))
            h, w = image.shape[:2]
            left, top = x + (col_w[c] - w) // 2, y + lab_h
            ax = fig.add_axes((left / width, 1 - (top + h) / height, w / width, h / height))
            ax.imshow(image, interpolation="nearest", resample=False)
            ax.set_axis_off()
            x += col_w[c] + pad
        y += lab_h + img_h + pad
    note_artist.set_position(frac(width / 2, height - pad))
    return fig


def plot_progress(hr: np.ndarray, snapshots: Sequence[tuple[int, np.ndarray, float, float]], *,
                  title: str, out: Path, dpi: int) -> None:
    """The report's Fig. 15: HR, then the SR output at each chosen epoch, in one row.

    Parameters
    ----------
    hr : uint8 HxWx3 RGB, [0, 255], the HR crop.
    snapshots : ``(epoch, sr, psnr_db, ssim)`` per panel, in display order; ``sr`` is the same
        crop of G's output at that epoch (uint8 HxWx3, same shape as ``hr``).
    title, out, dpi : figure title, PNG path, resolution.

    Every panel is labelled ``"epoch 10\\n(24.31 dB / 0.7312)"``. Crops narrower than
    ``MIN_PANEL_INCHES`` at ``dpi`` are enlarged by an integer factor (stated in the note).
    """
    _check_image(hr, "hr")
    for epoch, sr, _, _ in snapshots:
        _check_image(sr, f"snapshot of epoch {epoch:g}")
        if sr.shape != hr.shape:
            raise ValueError(f"snapshot of epoch {epoch:g} has shape {sr.shape}, HR has {hr.shape}")
    height, width = hr.shape[:2]
    zoom = _display_zoom(height, width, dpi)
    cells = [("HR\n(ground truth)", nearest_upscale(hr, zoom))]
    cells += [(f"epoch {epoch:g}\n({psnr:.2f} dB / {ssim:.4f})", nearest_upscale(sr, zoom))
              for epoch, sr, psnr, ssim in snapshots]
    note = (f"{width}x{height} crop" + (f", each pixel shown {zoom}x{zoom}" if zoom > 1 else "")
            + "; no interpolation")
    save_figure(_image_grid([cells], title=title, note=note, dpi=dpi), out, dpi=dpi, tight=False)


def plot_comparison(panels: Sequence[tuple[str, np.ndarray, float | None, float | None]], *,
                    title: str, out: Path, dpi: int, inset_from: tuple[int, int] | None = None,
                    inset_size: int = 48, crop: int | None = 256) -> None:
    """Methods side by side with a zoomed inset: the report's Fig. 16, Ledig et al. 2017 Fig. 6.

    Parameters
    ----------
    panels : ``(label, image, psnr_db or None, ssim or None)`` per column, typically LR
        (nearest-upscaled) | Bicubic | SRResNet | SRGAN | HR. Images are uint8 HxWx3 RGB in
        [0, 255], all the same shape. ``(label, image)`` pairs are accepted as having no metrics.
    title, out, dpi : figure title, PNG path, resolution.
    inset_from : ``(i, j)`` panel indices; the inset is the window where ``panels[i]`` and
        ``panels[j]`` differ most within the displayed crop (``most_different_window``). None: the
        centre of the crop.
    inset_size : side of the inset window in image pixels (clipped to the crop).
    crop : side of the centred crop shown in the top row; None shows the whole image.

    Layout: top row, each image (the crop) with the inset window boxed; bottom row, that window
    enlarged by the integer factor that makes it about as wide as the crop. The bottom row is
    left out when that factor would be no larger than the top row's (tiny images). Labels carry
    ``"PSNR dB / SSIM"`` on a second line when given. Crops under ``MIN_PANEL_INCHES`` at
    ``dpi`` are enlarged by an integer factor; the note under the figure states both factors.
    """
    if not panels:
        raise ValueError("plot_comparison needs at least one panel, got none")
    panels = [tuple(p) + (None, None) if len(p) == 2 else tuple(p) for p in panels]
    for label, image, _, _ in panels:
        _check_image(image, f"panel {label!r}")
        if image.shape != panels[0][1].shape:
            raise ValueError(f"panel {label!r} has shape {image.shape}, "
                             f"panel {panels[0][0]!r} has {panels[0][1].shape}; all must match")
    if crop is not None and int(crop) < 1:
        raise ValueError(f"crop must be a positive number of pixels or None, got {crop}")
    if int(inset_size) < 1:
        raise ValueError(f"inset_size must be a positive number of pixels, got {inset_size}")
    shown = [image if crop is None else center_crop(image, crop) for _, image, _, _ in panels]
    height, width = shown[0].shape[:2]
    size = min(int(inset_size), height, width)
    if inset_from is None:
        top, left = (height - size) // 2, (width - size) // 2
    else:
        i, j = inset_from
        if not (0 <= i < len(panels) and 0 <= j < len(panels)):
            raise ValueError(f"inset_from must index panels 0..{len(panels) - 1}, got {inset_from}")
        top, left = most_different_window(shown[i], shown[j], size=size)
    assert 0 <= top <= height - size and 0 <= left <= width - size  # window inside the crop

    zoom = _display_zoom(height, width, dpi)
    inset_zoom = max(1, min(height, width) * zoom // size)
    with_inset = inset_zoom > zoom  # else the "inset" would be no larger than the image itself
    line = _frame_width(dpi)
    top_row, bottom_row = [], []
    for (label, _, psnr, ssim), image in zip(panels, shown):
        metrics = " / ".join(s for s in (None if psnr is None else f"{psnr:.2f} dB",
                                         None if ssim is None else f"{ssim:.4f}") if s)
        big = nearest_upscale(image, zoom)  # (zoom*H, zoom*W, 3)
        if with_inset:
            _draw_frame(big, top * zoom, left * zoom, size * zoom, size * zoom, line)
            window = image[top:top + size, left:left + size]  # (size, size, 3)
            bottom_row.append((None, _framed(nearest_upscale(window, inset_zoom), line)))
        top_row.append((label + (f"\n{metrics}" if metrics else ""), big))
    whole = shown[0].shape == panels[0][1].shape
    shown_as = (f"{'whole image' if whole else 'centre crop'}, {width}x{height} px"
                + (f", shown {zoom}x" if zoom > 1 else ""))
    where = ("" if inset_from is None else
             f", where {panels[inset_from[0]][0]} and {panels[inset_from[1]][0]} differ most")
    if with_inset:
        note = (f"Top: {shown_as}. Bottom: the boxed {size}x{size} window"
                f"{where}, shown {inset_zoom}x. Nearest neighbour, no interpolation.")
    else:
        note = (f"{shown_as.capitalize()}; too small for a zoomed inset. "
                "Nearest neighbour, no interpolation.")
    fig = _image_grid([top_row, bottom_row] if with_inset else [top_row], title=title, note=note,
                      dpi=dpi)
    save_figure(fig, out, dpi=dpi, tight=False)


# ---------------------------------------------------------------------------------------------
# The rules' figures from the pipeline's files

Panel = tuple[str, np.ndarray, float | None, float | None]  # label, image, PSNR, SSIM
Snapshot = tuple[float, np.ndarray, float, float]  # epoch, SR crop, PSNR, SSIM


def comparison_panels(data_dir: Path, methods: Sequence[str], image_dirs: Sequence[Path],
                      metrics_csvs: Sequence[Path], *, scale: int) -> tuple[str, list[Panel]]:
    """The first image of a prepared evaluation set (its name, and its panels): LR enlarged by
    pixel replication, each method's SR (``image_dirs[i]`` and ``metrics_csvs[i]`` are
    ``methods[i]``'s) labelled with that image's own PSNR/SSIM, not the set's mean, then HR."""
    data_dir = Path(data_dir)
    hr_path = list_images(data_dir / "HR")[0]
    panels: list[Panel] = [(f"LR (x{scale} nearest)",
                            nearest_upscale(load_rgb(data_dir / "LR" / hr_path.name), scale), None, None)]
    for method, image_dir, metrics_csv in zip(methods, image_dirs, metrics_csvs, strict=True):
        row = pd.read_csv(metrics_csv, dtype={"image": str}).set_index("image").loc[hr_path.stem]
        panels.append((METHOD_LABELS[method], load_rgb(Path(image_dir) / hr_path.name),
                       float(row["psnr"]), float(row["ssim"])))
    panels.append(("HR", load_rgb(hr_path), None, None))
    return hr_path.stem, panels


def plot_comparison_from_files(data_dir: Path, image_dirs: Sequence[Path], metrics_csvs: Sequence[Path],
                               *, methods: Sequence[str], dataset: str, scale: int, protocol: str,
                               crop: int | None, inset_size: int, dpi: int, out: Path) -> None:
    """Rule figure_comparison: :func:`comparison_panels` drawn by :func:`plot_comparison`, the inset
    where SRResNet and SRGAN differ most (``methods`` must hold both)."""
    image, panels = comparison_panels(data_dir, methods, image_dirs, metrics_csvs, scale=scale)
    methods = list(methods)
    plot_comparison(panels, title=f"{dataset}/{image}, x{scale} ({protocol} protocol)", out=Path(out),
                    dpi=dpi, inset_from=(1 + methods.index("srresnet"), 1 + methods.index("srgan")),
                    inset_size=inset_size, crop=crop)


def load_progress(progress_npz: Path, data_dir: Path) -> tuple[np.ndarray, dict[float, np.ndarray], str]:
    """The HR crop of the progression image (from the prepared validation set ``data_dir``), the
    SR crops by epoch, and ``"<val set>/<image>"``, from rule evaluate_snapshots' ``progress.npz``."""
    data = np.load(progress_npz)
    top, left, size = (int(v) for v in data["box"])
    image = str(data["image"])
    hr = load_rgb(Path(data_dir) / "HR" / f"{image}.png")[top:top + size, left:left + size]
    crops = {float(epoch): crop for epoch, crop in zip(data["epochs"], data["crops"], strict=True)}
    return hr, crops, f"{data['val_set']}/{image}"


def progress_snapshots(hr: np.ndarray, crops: dict[float, np.ndarray], epochs: Sequence[int], *,
                       scale: int, protocol: str, round_y: bool) -> list[Snapshot]:
    """The panels of :func:`plot_progress` at the requested ``epochs`` that have a snapshot
    (:func:`select_epochs`), each with the PSNR/SSIM of its crop against the HR crop."""
    return [(epoch, crops[epoch],
             metrics.psnr(crops[epoch], hr, scale=scale, protocol=protocol, round_y=round_y),
             metrics.ssim(crops[epoch], hr, scale=scale, protocol=protocol, round_y=round_y))
            for epoch in select_epochs(epochs, list(crops))]


def plot_progress_from_file(progress_npz: Path, data_dir: Path, *, stage: str, epochs: Sequence[int],
                            scale: int, protocol: str, round_y: bool, dpi: int, out: Path) -> None:
    """Rule figure_progress: a training stage's progression crops at the chosen epochs."""
    hr, crops, image = load_progress(progress_npz, data_dir)
    snapshots = progress_snapshots(hr, crops, epochs, scale=scale, protocol=protocol, round_y=round_y)
    size = hr.shape[0]
    plot_progress(hr, snapshots, title=f"{METHOD_LABELS[stage]} by epoch: {image}, centre {size}x{size} "
                  f"crop (PSNR/SSIM of the crop, {protocol} protocol)", out=Path(out), dpi=dpi)
