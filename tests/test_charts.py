"""Line charts, pinned on the Figure's axes: one epoch axis with integer ticks, readable log ticks,
the bicubic line inside the view, and the perception-distortion plane with and without LPIPS."""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from srgan.charts import (curves_figure, discriminator_figure, losses_figure, perception_figure,
                          perception_inputs, perception_points, plot_curves, plot_discriminator,
                          plot_losses, plot_perception_distortion, save_figure, stage_epochs)

DPI = 100


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(stage: str, epochs: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    decay = np.exp(-np.arange(epochs) / 5)
    frame = {"epoch": np.arange(1, epochs + 1), "iteration": 100 * np.arange(1, epochs + 1),
             "lr": np.full(epochs, 1e-4), "Set5_psnr": 28 + rng.normal(size=epochs),
             "Set5_ssim": 0.8 + 0.01 * rng.normal(size=epochs)}
    if stage == "srresnet":
        frame["mse"] = 0.01 * decay + 0.002
    else:
        frame |= {"content_loss": 0.05 * decay + 0.01, "adversarial_loss": 2 + rng.random(epochs),
                  "d_loss": 0.5 + rng.random(epochs), "d_real": 0.6 + 0.3 * rng.random(epochs),
                  "d_fake": 0.1 + 0.3 * rng.random(epochs)}
        frame["g_loss"] = frame["content_loss"] + 1e-3 * frame["adversarial_loss"]
    return pd.DataFrame(frame)


def both(epochs: int, srgan_epochs: int | None = None) -> dict[str, pd.DataFrame]:
    return {"srresnet": history("srresnet", epochs),
            "srgan": history("srgan", epochs if srgan_epochs is None else srgan_epochs, seed=1)}


def visible_ticks(ax: plt.Axes, axis: str) -> list[tuple[float, str]]:
    """(location, label) of the major and minor ticks a draw shows inside the view."""
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    get_ticks = ax.get_xticks if axis == "x" else ax.get_yticks
    get_labels = ax.get_xticklabels if axis == "x" else ax.get_yticklabels
    return [(float(loc), label.get_text())
            for minor in (False, True)
            for loc, label in zip(get_ticks(minor=minor), get_labels(minor=minor))
            if lo - 1e-9 * abs(lo) <= loc <= hi + 1e-9 * abs(hi)]


def line(ax: plt.Axes, label: str):
    matches = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(matches) == 1, [ln.get_label() for ln in ax.get_lines()]
    return matches[0]


def texts(ax: plt.Axes) -> list[str]:
    return [t.get_text() for t in ax.texts]


# --- the epoch axis ------------------------------------------------------------------------------


def test_stage_epochs_continue_the_previous_stage():
    shared = stage_epochs({"srresnet": history("srresnet", 4), "srgan": history("srgan", 3)})
    np.testing.assert_array_equal(shared["srresnet"], [1, 2, 3, 4])
    np.testing.assert_array_equal(shared["srgan"], [5, 6, 7])
    fractional = pd.DataFrame({"epoch": [0.5, 1.0]})
    shared = stage_epochs({"srresnet": fractional, "srgan": fractional})
    np.testing.assert_array_equal(shared["srgan"], [1.5, 2.0])
    np.testing.assert_array_equal(stage_epochs({"srgan": history("srgan", 2)})["srgan"], [1, 2])


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_every_epoch_axis_has_integer_ticks(epochs):
    """Was: curves.png ticked 1.2, 1.4, ... (1 epoch) and 1.5, 2.5 (2 epochs)."""
    histories = both(epochs)
    figures = [curves_figure(histories, ["Set5"], protocol="standard", bicubic={"Set5": (30.0, 0.85)}),
               losses_figure(histories), discriminator_figure(histories)]
    for fig in figures:
        for ax in fig.axes:
            ticks = [loc for loc, _ in visible_ticks(ax, "x")]
            assert ticks, ax.get_title()
            assert all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)


@pytest.mark.parametrize("epochs", [1, 3, 12])
def test_one_srgan_epoch_numbering_in_losses_and_discriminator(epochs):
    """Was: discriminator.png put SRGAN's first epoch at x=1, losses.png at x=SRResNet's last + 1."""
    histories = both(epochs, srgan_epochs=epochs + 2)
    expected = epochs + histories["srgan"]["epoch"].to_numpy(dtype=float)
    losses, disc = losses_figure(histories), discriminator_figure(histories)
    adversarial = next(ax for ax in losses.axes if "Adversarial" in ax.get_title())
    generator = next(ax for ax in losses.axes if "Generator" in ax.get_title())
    for ax, label in ((adversarial, "D loss: BCE on HR and SR"), (generator, "SRGAN: content loss"),
                      (disc.axes[0], "D(HR): real images"), (disc.axes[0], "D(SR): SRGAN outputs")):
        np.testing.assert_array_equal(line(ax, label).get_xdata(), expected)
    curves = curves_figure(histories, ["Set5"], protocol="standard")
    np.testing.assert_array_equal(line(curves.axes[0], "SRGAN, Set5").get_xdata(), expected)
    assert "after" in disc.axes[0].get_xlabel() and f"{epochs} SRResNet" in disc.axes[0].get_xlabel()


# --- the loss panels -----------------------------------------------------------------------------


def assert_plain_log_labels(ax: plt.Axes) -> None:
    assert ax.get_yscale() == "log"
    labels = [label for _, label in visible_ticks(ax, "y") if label]
    assert len(labels) >= 2, labels
    assert not any("e" in label or "$" in label for label in labels), labels  # plain numbers
    assert [float(label) for label in labels] == sorted(float(label) for label in labels)


@pytest.mark.parametrize("low, high", [(0.0689, 0.1812), (0.0102, 0.0118), (0.011, 0.019),
                                       (0.04, 0.09), (1.4, 2.2), (0.002, 0.5), (1e-4, 3.0)])
def test_log_loss_panel_has_plain_labels(low, high):
    """Was: a loss from 0.0689 to 0.1812 (0.42 decades across 0.1) had the one label 0.1."""
    frame = pd.DataFrame({"epoch": [1, 2, 3], "mse": np.geomspace(high, low, 3)})
    assert_plain_log_labels(losses_figure({"srresnet": frame}).axes[0])


def test_log_labels_of_the_tiny_run():
    """The generator panel of tests/config/tiny.yaml's losses.png (its histories' values), which
    showed only the label 0.1."""
    srresnet = pd.DataFrame({"epoch": [1, 2], "mse": [0.178642, 0.139985]})
    srgan = pd.DataFrame({"epoch": [1, 2], "g_loss": [0.0885888, 0.071485],
                          "content_loss": [0.0863718, 0.0689256], "adversarial_loss": [2.21693, 2.55933],
                          "d_loss": [0.903506, 0.212167]})
    for ax in losses_figure({"srresnet": srresnet, "srgan": srgan}).axes:
        assert_plain_log_labels(ax)


def test_losses_with_non_positive_values_stay_linear():
    frame = history("srgan", 4)
    frame["adversarial_loss"] = [-0.5, 0.1, 0.2, 0.3]
    fig = losses_figure({"srgan": frame})
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear"]


# --- curves.png ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bicubic", [(35.0, 0.95), (20.0, 0.5), (28.0, 0.8)])
def test_bicubic_line_inside_the_view_with_a_margin(bicubic):
    """Was: autoscaling left a bicubic line above every curve 4.5% of the height from the top."""
    fig = curves_figure(both(5), ["Set5"], protocol="standard", bicubic={"Set5": bicubic})
    for ax, value in zip(fig.axes, bicubic):
        reference = line(ax, "bicubic, Set5").get_ydata()[0]
        assert reference == value
        bottom, top = ax.get_ylim()
        assert min(top - value, value - bottom) >= 0.08 * (top - bottom), (ax.get_ylim(), value)
        for stage_line in ax.get_lines():
            if not stage_line.get_label().startswith("bicubic") and stage_line.get_label()[0] != "_":
                assert bottom < np.min(stage_line.get_ydata()) <= np.max(stage_line.get_ydata()) < top


def test_curves_name_a_missing_metric_column():
    frame = history("srresnet", 2).drop(columns="Set5_ssim")
    with pytest.raises(ValueError, match=r"lacks columns \['Set5_ssim'\]"):
        curves_figure({"srresnet": frame}, ["Set5"], protocol="standard")


# --- written figures -----------------------------------------------------------------------------


def assert_written_as_built(out, fig: plt.Figure, tmp_path) -> None:
    """The PNG at ``out`` holds exactly ``fig`` saved at DPI (same size, same pixels)."""
    reference = tmp_path / "reference.png"
    save_figure(fig, reference, dpi=DPI)
    with Image.open(out) as written, Image.open(reference) as built:
        assert written.size == built.size
        np.testing.assert_array_equal(np.asarray(written), np.asarray(built))


def test_curves_plot_each_history_column_on_its_axes_with_the_bicubic_values(tmp_path):
    histories = both(4)
    rng = np.random.default_rng(7)
    for frame in histories.values():
        frame["Set14_psnr"] = 26 + rng.normal(size=len(frame))
        frame["Set14_ssim"] = 0.7 + 0.01 * rng.normal(size=len(frame))
    bicubic = {"Set5": (30.0, 0.85), "Set14": (27.5, float("nan"))}  # no SSIM line for Set14
    fig = curves_figure(histories, ["Set5", "Set14"], protocol="standard", bicubic=bicubic)
    assert [ax.get_ylabel() for ax in fig.axes] == ["PSNR (dB)", "SSIM"]
    for ax, k, metric in zip(fig.axes, (0, 1), ("psnr", "ssim")):
        assert ax.get_title() == f"{metric.upper()} per epoch (standard protocol)"
        assert ax.get_xlabel() == "epoch (SRResNet, then SRGAN)"
        for stage, name, epochs in (("srresnet", "SRResNet (MSE)", [1, 2, 3, 4]),
                                    ("srgan", "SRGAN", [5, 6, 7, 8])):
            for val_set in ("Set5", "Set14"):
                drawn = line(ax, f"{name}, {val_set}")
                np.testing.assert_array_equal(drawn.get_xdata(), epochs)
                np.testing.assert_array_equal(drawn.get_ydata(),
                                              histories[stage][f"{val_set}_{metric}"])
        np.testing.assert_array_equal(line(ax, "bicubic, Set5").get_ydata(), [bicubic["Set5"][k]] * 2)
    np.testing.assert_array_equal(line(fig.axes[0], "bicubic, Set14").get_ydata(), [27.5, 27.5])
    assert "bicubic, Set14" not in [ln.get_label() for ln in fig.axes[1].get_lines()]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert set(legend) == {"SRResNet (MSE), Set5", "SRResNet (MSE), Set14", "SRGAN, Set5",
                           "SRGAN, Set14", "bicubic, Set5"}
    plot_curves(histories, ["Set5", "Set14"], protocol="standard", bicubic=bicubic,
                out=tmp_path / "curves.png", dpi=DPI)
    assert_written_as_built(tmp_path / "curves.png", curves_figure(
        histories, ["Set5", "Set14"], protocol="standard", bicubic=bicubic), tmp_path)


@pytest.mark.parametrize("epochs", [1, 12])
def test_losses_and_discriminator_plot_the_history_columns_and_are_written(tmp_path, epochs):
    histories = both(epochs)
    srresnet, srgan = histories["srresnet"], histories["srgan"]
    generator, adversarial = losses_figure(histories).axes
    for ax, label, values in ((generator, "SRResNet: pixel MSE", srresnet["mse"]),
                              (generator, "SRGAN: content loss", srgan["content_loss"]),
                              (generator, "SRGAN: g_loss = content + w * adversarial", srgan["g_loss"]),
                              (adversarial, "G adversarial: -log D(G(LR))", srgan["adversarial_loss"]),
                              (adversarial, "D loss: BCE on HR and SR", srgan["d_loss"])):
        np.testing.assert_array_equal(line(ax, label).get_ydata(), values)
    [ax] = discriminator_figure(histories).axes
    np.testing.assert_array_equal(line(ax, "D(HR): real images").get_ydata(), srgan["d_real"])
    np.testing.assert_array_equal(line(ax, "D(SR): SRGAN outputs").get_ydata(), srgan["d_fake"])
    np.testing.assert_array_equal(line(ax, "0.5: D cannot tell").get_ydata(), [0.5, 0.5])
    assert ax.get_ylim() == (0, 1) and ax.get_ylabel() == "mean probability of 'real'"
    plot_losses(histories, out=tmp_path / "losses.png", dpi=DPI)
    assert_written_as_built(tmp_path / "losses.png", losses_figure(histories), tmp_path)
    plot_discriminator(histories, out=tmp_path / "d.png", dpi=DPI)
    assert_written_as_built(tmp_path / "d.png", discriminator_figure(histories), tmp_path)


def test_losses_single_stage_and_errors(tmp_path):
    srresnet = history("srresnet", 3)
    [ax] = losses_figure({"srresnet": srresnet}).axes
    assert [ln.get_label() for ln in ax.get_lines()] == ["SRResNet: pixel MSE"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), srresnet["mse"])
    assert ax.get_xlabel() == "epoch" and ax.get_yscale() == "log"
    plot_losses({"srresnet": srresnet}, out=tmp_path / "l.png", dpi=DPI)
    assert_written_as_built(tmp_path / "l.png", losses_figure({"srresnet": srresnet}), tmp_path)
    with pytest.raises(ValueError, match="allowed"):
        plot_losses({"esrgan": history("srgan", 3)}, out=tmp_path / "l.png", dpi=DPI)
    with pytest.raises(ValueError, match="needs the srgan history"):
        plot_discriminator({"srresnet": history("srresnet", 3)}, out=tmp_path / "d.png", dpi=DPI)
    with pytest.raises(ValueError, match="d_real"):
        plot_discriminator({"srgan": history("srresnet", 3)}, out=tmp_path / "d.png", dpi=DPI)


# --- the perception-distortion plane -------------------------------------------------------------


POINTS = perception_points({"Bicubic": (28.4, 0.34), "SRResNet": (32.0, 0.18), "SRGAN": (29.4, 0.09),
                            "SRGAN-VGG22": (29.9, 0.12)})
TRAJECTORY = pd.DataFrame({"epoch": [3, 1, 2, 4, 5], "psnr": [29.0, 30.5, 29.8, 29.3, 29.4],
                           "lpips": [0.12, 0.20, 0.15, 0.10, 0.09]})


def test_perception_points_keep_order_and_none_as_nan():
    frame = perception_points({"Bicubic": (28.4, None), "SRGAN": (29.4, 0.09)})
    assert list(frame.columns) == ["method", "psnr", "lpips"]
    assert list(frame["method"]) == ["Bicubic", "SRGAN"]
    assert frame["psnr"].tolist() == [28.4, 29.4]
    assert np.isnan(frame["lpips"].iloc[0]) and frame["lpips"].iloc[1] == 0.09
    assert perception_points({}).empty


def test_perception_points_and_trajectory_are_where_the_data_says():
    ax = perception_figure(POINTS, TRAJECTORY, test_set="BSD100").axes[0]
    drawn = {c.get_label(): tuple(c.get_offsets()[0]) for c in ax.collections}
    assert drawn == {row.method: (row.psnr, row.lpips) for row in POINTS.itertuples()}
    path = line(ax, "SRGAN per epoch (of SRGAN training)")
    np.testing.assert_array_equal(path.get_xdata(), [30.5, 29.8, 29.0, 29.3, 29.4])  # by epoch
    np.testing.assert_array_equal(path.get_ydata(), [0.20, 0.15, 0.12, 0.10, 0.09])
    assert path.get_marker() == "o" and path.get_markersize() < 4
    assert {"Bicubic", "SRResNet", "SRGAN", "SRGAN-VGG22", "epoch 1", "epoch 5"} <= set(texts(ax))
    assert "epoch 3" not in texts(ax)  # only the ends are labelled
    assert "lower is better" in ax.get_ylabel() and "LPIPS" in ax.get_ylabel()
    assert "PSNR (dB" in ax.get_xlabel() and "BSD100" in ax.get_title()


@pytest.mark.parametrize("trajectory", [None, TRAJECTORY.iloc[:0]])
def test_perception_without_trajectory(trajectory):
    ax = perception_figure(POINTS, trajectory, test_set="Set14").axes[0]
    assert len(ax.collections) == 4 and not ax.get_lines()


def test_perception_unavailable_writes_the_psnrs_and_the_reason(tmp_path):
    out = tmp_path / "pd.png"
    reason = "AlexNet ImageNet weights not found (offline)"
    nan_points = POINTS.assign(lpips=np.nan)
    plot_perception_distortion(nan_points, TRAJECTORY, test_set="Set14", out=out, dpi=DPI,
                               unavailable=reason)
    assert_written_as_built(out, perception_figure(nan_points, TRAJECTORY, test_set="Set14",
                                                   unavailable=reason), tmp_path)
    ax = perception_figure(POINTS, TRAJECTORY, test_set="Set14", unavailable=reason).axes[0]
    assert f"LPIPS unavailable: {reason}" in [t.replace("\n", " ") for t in texts(ax)]
    notice = next(t for t in ax.texts if t.get_text().startswith("LPIPS unavailable"))
    assert notice.get_bbox_patch() is not None and notice.get_transform() == ax.transAxes
    drawn = {c.get_label(): tuple(c.get_offsets()[0]) for c in ax.collections}
    rows = len(POINTS) - 1 - np.arange(len(POINTS))  # one row per method, the first on top
    assert drawn == {row.method: (row.psnr, y) for row, y in zip(POINTS.itertuples(), rows)}
    assert [t.get_text() for t in ax.get_yticklabels()] == list(POINTS["method"])[::-1]
    assert {f"{p:.2f} dB" for p in POINTS["psnr"]} <= set(texts(ax)) and not ax.get_lines()


def test_perception_all_nan_without_a_reason_still_says_so(tmp_path):
    out = tmp_path / "pd.png"
    nan_points = POINTS.assign(lpips=np.nan)
    plot_perception_distortion(nan_points, None, test_set="Set5", out=out, dpi=DPI)
    assert_written_as_built(out, perception_figure(nan_points, None, test_set="Set5"), tmp_path)
    ax = perception_figure(nan_points, None, test_set="Set5").axes[0]
    assert any(t.startswith("LPIPS unavailable: no method has an LPIPS value") for t in texts(ax))
    assert [t.get_text() for t in ax.get_yticklabels()] == list(POINTS["method"])[::-1]


def test_perception_names_methods_without_a_value():
    points = POINTS.copy()
    points.loc[points["method"] == "Bicubic", "lpips"] = np.nan
    points.loc[points["method"] == "SRResNet", "psnr"] = np.inf
    ax = perception_figure(points, None, test_set="Set5").axes[0]
    assert {c.get_label() for c in ax.collections} == {"SRGAN", "SRGAN-VGG22"}
    assert "not shown (no value): Bicubic, SRResNet" in texts(ax)


# --- perception_inputs ---------------------------------------------------------------------------


def write_metrics(path, psnr: float, lpips: str | None):
    rows = "image,psnr,ssim" + (",lpips" if lpips is not None else "") + "\n"
    rows += "a,30.0,0.9" + (",0.1" if lpips is not None else "") + "\n"
    rows += f"mean,{psnr},0.8" + (f",{lpips}" if lpips is not None else "") + "\n"
    path.write_text(rows)
    return path


def test_perception_inputs_read_means_and_the_trajectory(tmp_path):
    csvs = [write_metrics(tmp_path / "bicubic.csv", 26.5, ""),  # LPIPS empty: NaN
            write_metrics(tmp_path / "srgan.csv", 28.25, "0.125"),
            write_metrics(tmp_path / "old.csv", 27.0, None)]  # no lpips column: NaN
    history_csv = tmp_path / "srgan_history.csv"
    pd.DataFrame({"epoch": [1, 2], "Set5_psnr": [27.0, 28.0], "Set5_ssim": [0.7, 0.8],
                  "Set5_lpips": [0.2, np.nan]}).to_csv(history_csv, index=False)
    points, trajectory = perception_inputs(csvs, ["Bicubic", "SRGAN", "Old"], history_csv, "Set5")
    assert list(points["method"]) == ["Bicubic", "SRGAN", "Old"]
    assert points["psnr"].tolist() == [26.5, 28.25, 27.0]
    assert np.isnan(points["lpips"].iloc[0]) and points["lpips"].iloc[1] == 0.125
    assert np.isnan(points["lpips"].iloc[2])
    assert trajectory["epoch"].tolist() == [1.0, 2.0] and trajectory["psnr"].tolist() == [27.0, 28.0]
    assert trajectory["lpips"].iloc[0] == 0.2 and np.isnan(trajectory["lpips"].iloc[1])


def test_perception_inputs_without_lpips_in_the_history(tmp_path, caplog):
    csvs = [write_metrics(tmp_path / "srgan.csv", 28.0, "0.1")]
    history_csv = tmp_path / "h.csv"
    pd.DataFrame({"epoch": [1], "Set5_psnr": [27.0]}).to_csv(history_csv, index=False)
    _, trajectory = perception_inputs(csvs, ["SRGAN"], history_csv, "Set5")
    assert trajectory["lpips"].isna().all()
    with caplog.at_level(logging.WARNING):
        _, trajectory = perception_inputs(csvs, ["SRGAN"], history_csv, "BSD100")
    assert trajectory is None and "BSD100_psnr" in caplog.text
    assert perception_inputs(csvs, ["SRGAN"], None, "Set5")[1] is None


def test_perception_inputs_reject_mismatches(tmp_path):
    csvs = [write_metrics(tmp_path / "srgan.csv", 28.0, "0.1")]
    with pytest.raises(ValueError, match="1 metrics files for 2 methods"):
        perception_inputs(csvs, ["SRResNet", "SRGAN"], None, "Set5")
    with pytest.raises(ValueError, match=r"repeat \['SRGAN'\]"):
        perception_inputs(csvs * 2, ["SRGAN", "SRGAN"], None, "Set5")
    (tmp_path / "no_mean.csv").write_text("image,psnr,ssim,lpips\na,1,2,3\n")
    with pytest.raises(ValueError, match="0 rows with image=mean"):
        perception_inputs([tmp_path / "no_mean.csv"], ["SRGAN"], None, "Set5")


def test_perception_labels_of_close_methods_do_not_overlap():
    """Ablation rows within a tenth of a dB and 0.01 LPIPS: every label stays readable."""
    points = perception_points({"SRGAN": (26.02, 0.176), "SRGAN-VGG54": (25.95, 0.171),
                                "SRGAN-VGG22": (26.08, 0.181), "SRGAN-MSE": (26.0, 0.186),
                                "SRResNet": (28.5, 0.34)})
    fig = perception_figure(points, TRAJECTORY.assign(psnr=TRAJECTORY["psnr"] - 3.4,
                                                      lpips=TRAJECTORY["lpips"] + 0.08),
                            test_set="Set5")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert len(boxes) == len(points) + 2
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize("points", [POINTS.iloc[:0], POINTS.iloc[:1],
                                    POINTS.assign(psnr=np.inf, lpips=np.nan)])
def test_perception_unavailable_never_raises(tmp_path, points):
    out = tmp_path / "pd.png"
    plot_perception_distortion(points, None, test_set="Set5", out=out, dpi=DPI, unavailable="offline")
    assert out.stat().st_size > 0
