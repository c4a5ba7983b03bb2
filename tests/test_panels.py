"""Image figures: images reach the PNG pixel-exact (no resampling, no blending), the inset is where
the methods differ most, and the progression figure's epochs are chosen from the snapshots."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from srgan import panels
from srgan.panels import (FRAME_INNER, FRAME_OUTER, center_crop, most_different_window,
                          nearest_upscale, plot_comparison, plot_progress, select_epochs)

DPI = 100
# Saturated colours, none of them the frame's black or gold, nor the white/grey of the page.
PALETTE = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                    (70, 240, 240)], dtype=np.uint8)


def read_png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def checkerboard(height: int, width: int) -> np.ndarray:
    """One-pixel cells cycling through PALETTE: any blending of neighbours makes a new colour."""
    y, x = np.mgrid[:height, :width]
    return PALETTE[(y + 2 * x) % len(PALETTE)]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def image_boxes(png: np.ndarray) -> list[list[np.ndarray]]:
    """The rectangles of the PNG holding PALETTE colours, as rows of column crops."""
    source = (png[..., None, :] == PALETTE).all(axis=-1).any(axis=-1)  # (H, W)
    return [[png[r0:r1, c0:c1] for c0, c1 in runs(source[r0:r1].any(axis=0))]
            for r0, r1 in runs(source.any(axis=1))]


# --- most_different_window ---------------------------------------------------------------------


def test_window_finds_planted_block():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    b = a.copy()
    b[37:57, 81:101] = 255 - b[37:57, 81:101]
    assert most_different_window(a, b, size=20) == (37, 81)
    y, x = most_different_window(a, b, size=32)  # a larger window covers the whole block
    assert y <= 37 and y + 32 >= 57 and x <= 81 and x + 32 >= 101


def test_window_matches_brute_force():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 256, (2, 23, 31, 3), dtype=np.uint8)
    diff = np.abs(a.astype(int) - b.astype(int)).sum(axis=2)
    scores = np.array([[diff[y:y + 5, x:x + 5].sum() for x in range(27)] for y in range(19)])
    assert most_different_window(a, b, size=5) == np.unravel_index(np.argmax(scores), scores.shape)


def test_window_identical_and_small_images():
    image = np.random.default_rng(2).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert most_different_window(image, image, size=8) == (0, 0)  # all ties: the first
    assert most_different_window(image[:5, :7], 255 - image[:5, :7], size=8) == (0, 0)
    assert most_different_window(image, image, size=40) == (0, 0)


def test_window_rejects_bad_input():
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="equal shapes"):
        most_different_window(image, image[:5], size=3)
    with pytest.raises(ValueError, match="positive"):
        most_different_window(image, image, size=0)


# --- image figures -----------------------------------------------------------------------------


def test_comparison_is_pixel_exact(tmp_path):
    """A 1-pixel checkerboard survives only if nothing is resampled or blended."""
    image = checkerboard(40, 56)
    out = tmp_path / "comparison.png"
    plot_comparison([("LR", image, None, None), ("SR", image, 25.0, 0.75), ("HR", image, None, None)],
                    title="checkerboard", out=out, dpi=DPI, crop=None, inset_size=12)
    boxes = image_boxes(read_png(out))
    assert [len(row) for row in boxes] == [3, 3]  # images, then insets
    tops, insets = boxes
    allowed = {tuple(c) for c in PALETTE} | {FRAME_INNER, FRAME_OUTER}
    for top, inset in zip(tops, insets):
        zoom = top.shape[1] // image.shape[1]
        assert zoom >= 1 and top.shape[:2] == (40 * zoom, 56 * zoom)
        assert {tuple(c) for c in top.reshape(-1, 3)} <= allowed  # no blended colours
        expected = nearest_upscale(image, zoom)
        changed = (top != expected).any(axis=-1)
        framed = (top[changed][:, None] == np.array([FRAME_INNER, FRAME_OUTER])).all(-1).any(-1)
        assert framed.all() and changed.mean() < 0.2  # only the box's ring differs
        assert {tuple(c) for c in PALETTE} <= {tuple(c) for c in top[~changed]}
        # The inset: the centre window (inset_from=None), exactly enlarged.
        inset_zoom = inset.shape[0] // 12
        y, x = (40 - 12) // 2, (56 - 12) // 2
        np.testing.assert_array_equal(inset, nearest_upscale(image[y:y + 12, x:x + 12], inset_zoom))


def test_comparison_inset_where_methods_differ(tmp_path):
    rng = np.random.default_rng(3)
    index = rng.integers(0, len(PALETTE), (200, 300))
    base, srgan = PALETTE[index], PALETTE[index].copy()
    other = PALETTE[(index + rng.integers(1, len(PALETTE), index.shape)) % len(PALETTE)]
    srgan[:50, :100] = other[:50, :100]  # the largest difference, but outside the crop
    srgan[70:90, 160:180] = other[70:90, 160:180]  # inside the crop: every pixel differs
    out = tmp_path / "inset.png"
    crop = 100  # rows 50..150, columns 100..200
    plot_comparison([("SRResNet", base, 24.0, 0.7), ("SRGAN", srgan, 22.0, 0.6)], title="inset",
                    out=out, dpi=DPI, inset_from=(0, 1), inset_size=16, crop=crop)
    shown_a, shown_b = center_crop(base, crop), center_crop(srgan, crop)
    y, x = most_different_window(shown_a, shown_b, size=16)
    assert 0 <= y <= crop - 16 and 0 <= x <= crop - 16
    assert 20 <= y <= 24 and 60 <= x <= 64  # the block at (70, 160) in image coordinates
    boxes = image_boxes(read_png(out))
    assert [len(row) for row in boxes] == [2, 2]
    inset_b = boxes[1][1]
    zoom = inset_b.shape[0] // 16
    np.testing.assert_array_equal(inset_b, nearest_upscale(shown_b[y:y + 16, x:x + 16], zoom))


def test_comparison_defaults_and_legacy_pairs(tmp_path):
    """No crop, inset or metrics given, and (label, image) pairs: the top row is the centred
    256x256 crop, the inset its centred 48x48 window, enlarged 5x (256 // 48)."""
    rng = np.random.default_rng(4)
    image = PALETTE[rng.integers(0, len(PALETTE), (300, 280))]
    out = tmp_path / "legacy.png"
    plot_comparison([("Bicubic\n23.00 dB / 0.6000", image), ("HR", image)], title="t", out=out,
                    dpi=DPI)
    boxes = image_boxes(read_png(out))
    assert [len(row) for row in boxes] == [2, 2]
    crop = center_crop(image, 256)
    np.testing.assert_array_equal(crop, image[22:278, 12:268])
    for top, inset in zip(*boxes):
        assert top.shape[:2] == (256, 256)  # 2.56 inches at 100 dpi: no enlargement
        changed = (top != crop).any(axis=-1)
        ring = (top[changed][:, None] == np.array([FRAME_INNER, FRAME_OUTER])).all(-1).any(-1)
        assert ring.all() and 0 < changed.mean() < 0.1  # only the box around the inset differs
        np.testing.assert_array_equal(inset, nearest_upscale(crop[104:152, 104:152], 5))


def test_comparison_without_room_for_an_inset(tmp_path):
    """When the window is the whole (tiny) image, the inset row and its box are left out."""
    image = checkerboard(30, 30)
    out = tmp_path / "tiny.png"
    plot_comparison([("SR", image, 20.0, None), ("HR", image, None, None)], title="tiny", out=out,
                    dpi=DPI, inset_size=48)
    boxes = image_boxes(read_png(out))
    assert [len(row) for row in boxes] == [2]
    zoom = boxes[0][0].shape[0] // 30
    for box in boxes[0]:
        np.testing.assert_array_equal(box, nearest_upscale(image, zoom))  # no box drawn


def test_comparison_rejects_bad_panels(tmp_path):
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="all must match"):
        plot_comparison([("a", image, None, None), ("b", image[:16], None, None)], title="t",
                        out=tmp_path / "x.png", dpi=DPI)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        plot_comparison([("a", image.astype(float), None, None)], title="t", out=tmp_path / "x.png",
                        dpi=DPI)
    with pytest.raises(ValueError, match="inset_from"):
        plot_comparison([("a", image, None, None)], title="t", out=tmp_path / "x.png", dpi=DPI,
                        inset_from=(0, 3))


def test_progress_panels_are_pixel_exact(tmp_path):
    hr = checkerboard(24, 24)
    snapshots = [(epoch, np.roll(hr, epoch, axis=1), 20.0 + epoch, 0.5) for epoch in (1, 10, 30, 77)]
    out = tmp_path / "progress.png"
    plot_progress(hr, snapshots, title="progress", out=out, dpi=DPI)
    boxes = image_boxes(read_png(out))
    assert [len(row) for row in boxes] == [5]
    row = boxes[0]
    zoom = row[0].shape[0] // 24
    assert zoom * 24 >= panels.MIN_PANEL_INCHES * DPI  # small crops are enlarged
    for box, image in zip(row, [hr] + [sr for _, sr, _, _ in snapshots]):
        np.testing.assert_array_equal(box, nearest_upscale(image, zoom))


def test_progress_rejects_mismatched_snapshot(tmp_path):
    hr = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="epoch 3"):
        plot_progress(hr, [(3, hr[:8], 20.0, 0.5)], title="t", out=tmp_path / "x.png", dpi=DPI)


def test_select_epochs(caplog):
    assert select_epochs([1, 10, 30, -1], range(1, 78)) == [1, 10, 30, 77]
    with caplog.at_level(logging.WARNING):
        assert select_epochs([1, 10, 30, -1], [1, 2, 3]) == [1, 3]
    assert "epoch 10 has no snapshot" in caplog.text
    with pytest.raises(ValueError, match="available"):
        select_epochs([5], [1, 2])
