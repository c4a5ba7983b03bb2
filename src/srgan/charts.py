"""Line charts: validation PSNR/SSIM per epoch (curves.png), training losses (losses.png), D's
probabilities (discriminator.png), and the perception-distortion plane of the methods (Blau and
Michaeli, "The Perception-Distortion Tradeoff", CVPR 2018, Fig. 1 and 5; LPIPS, Zhang et al. 2018).

One epoch axis for a whole run: each history numbers its stage's epochs from 1 (training.py), and
SRGAN's continue SRResNet's here (``stage_epochs``), so one SRGAN row has the same x in every
figure. Epoch axes carry integer ticks only, whatever the number of epochs.

Each figure has a builder that returns the Figure (``curves_figure``, ...), which tests inspect,
and a ``plot_*`` that builds and saves it.
"""

from __future__ import annotations

import itertools
import logging
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from srgan.io import atomic_path  # noqa: E402
from srgan.tables import lpips_unavailable_reason, read_mean  # noqa: E402

log = logging.getLogger(__name__)

STAGE_STYLE = {"srresnet": ("SRResNet (MSE)", "tab:blue"), "srgan": ("SRGAN", "tab:red")}
METHOD_COLOURS = {"Bicubic": "black", "SRResNet": "tab:blue", "SRGAN": "tab:red"}
OTHER_COLOURS = ("tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive",
                 "tab:cyan", "tab:gray")  # ablation rows, in order of appearance
LINESTYLES = ("-", "--", ":", "-.")
MARKERS_UP_TO = 60  # epochs; longer histories are drawn as plain lines
REFERENCE_MARGIN = 0.1  # of the y-span, kept between a bicubic line and the axes' edge


def metric_column(val_set: str, metric: str) -> str:
    """History column of a metric, measured under the config's protocol by the evaluation stage."""
    return f"{val_set}_{metric}"


def save_figure(fig: plt.Figure, path: Path, *, dpi: int, tight: bool = True) -> None:
    """Write ``fig`` as PNG at ``dpi``, atomically, and close it.

    ``tight=False`` keeps the figure's exact pixel size, which the image figures rely on.
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None, format="png")
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Shared axes


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} history lacks columns {missing}; it has {list(frame.columns)}")


def _check_stages(histories: Mapping[str, pd.DataFrame]) -> None:
    if not histories:
        raise ValueError("needs at least one history, got none")
    unknown = [stage for stage in histories if stage not in STAGE_STYLE]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; allowed: {list(STAGE_STYLE)}")


def stage_epochs(histories: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Each stage's epochs on the run's one axis: a stage starts after the previous one's last.

    ``histories`` in training order, each numbering its own epochs from 1 (fractional with
    ``eval_every``). SRGAN's epoch 1 after 100 SRResNet epochs is 101 in every figure.
    """
    shared, offset = {}, 0.0
    for stage, history in histories.items():
        _require(history, ("epoch",), stage)
        epochs = history["epoch"].to_numpy(dtype=float) + offset
        shared[stage] = epochs
        offset = float(epochs.max()) if len(epochs) else offset
    return shared


def _boundaries(shared: Mapping[str, np.ndarray]) -> list[float]:
    """Midway between one stage's last epoch and the next one's first: fractional epochs too."""
    stages = [epochs for epochs in shared.values() if len(epochs)]
    return [(float(a.max()) + float(b.min())) / 2 for a, b in itertools.pairwise(stages)]


def _epoch_label(histories: Mapping[str, pd.DataFrame], shown: Sequence[str]) -> str:
    """The x label of a panel showing the stages ``shown`` on the axis of ``stage_epochs``."""
    if len(shown) > 1:
        return "epoch (SRResNet, then SRGAN)"
    stage, own = shown[0], histories[shown[0]]["epoch"].to_numpy(dtype=float)
    offset = float(stage_epochs(histories)[stage][0] - own[0]) if len(own) else 0.0
    if stage == "srgan" and offset > 0:
        return f"epoch (SRGAN, after {offset:g} SRResNet epochs)"
    return "epoch"


def _epoch_axis(ax: plt.Axes, epochs: Sequence[np.ndarray]) -> None:
    """Integer epoch ticks, with at least half an epoch of margin.

    The margin makes the view at least one epoch wide, so it always holds an integer and
    ``MaxNLocator(integer=True)`` never falls back to ticks at 1.5 (one to three epochs).
    """
    values = np.concatenate([np.asarray(e, dtype=float) for e in epochs] or [np.zeros(0)])
    if values.size:
        margin = max(0.5, 0.03 * (values.max() - values.min()))
        ax.set_xlim(values.min() - margin, values.max() + margin)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _plain(value: float, _pos: int | None = None) -> str:
    """A tick label as a plain number: 0.04 rather than 4e-02 or $10^{-2}$."""
    return f"{value:g}"


def _log_if_positive(ax: plt.Axes) -> None:
    """Log y-scale when every plotted value is positive (losses spanning decades); else linear.

    Within less than a decade ``LogLocator`` may place no tick at all (a loss between 0.011 and
    0.019 has neither 0.01 nor 0.02 in view), so there the ticks are evenly spaced round numbers.
    """
    values = np.concatenate([line.get_ydata() for line in ax.get_lines()] or [np.zeros(0)])
    values = values[np.isfinite(values)]
    if not (values.size and (values > 0).all()):
        ax.set_ylabel("loss")
        return
    ax.set_yscale("log")  # resets the locators: set ours after it
    decades = math.log10(values.max() / values.min())
    if decades < 1:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("loss (log scale)")


def _fit_ylim(ax: plt.Axes, values: np.ndarray, *, margin: float = REFERENCE_MARGIN) -> None:
    """y-limits over ``values`` (curves and reference lines) with ``margin`` of their span beyond
    each end: a bicubic line above every curve stays clear of the top edge and the title."""
    values = values[np.isfinite(values)]
    if not values.size:
        return
    low, high = float(values.min()), float(values.max())
    pad = margin * (high - low) if high > low else max(abs(high) * 0.05, 1e-3)
    ax.set_ylim(low - pad, high + pad)


def _line(ax: plt.Axes, x: np.ndarray, y: pd.Series, **style) -> None:
    marker = "o" if len(x) <= MARKERS_UP_TO else None
    ax.plot(x, y.to_numpy(dtype=float), marker=marker, markersize=3.5, linewidth=1.5, **style)


# ---------------------------------------------------------------------------------------------
# Training figures


def curves_figure(histories: Mapping[str, pd.DataFrame], val_sets: Sequence[str], *, protocol: str,
                  bicubic: Mapping[str, tuple[float, float]] | None = None) -> plt.Figure:
    """PSNR and SSIM against epoch for every validation set, on the run's one epoch axis.

    ``bicubic[set] = (psnr_db, ssim)`` draws horizontal reference lines, inside the y-limits
    with a margin even when above every curve (bicubic often beats a short run).
    """
    _check_stages(histories)
    shared = stage_epochs(histories)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, k_metric, metric in zip(axes, (0, 1), ("psnr", "ssim")):
        values = []
        for stage, history in histories.items():
            label, colour = STAGE_STYLE[stage]
            for k, val_set in enumerate(val_sets):
                column = metric_column(val_set, metric)
                _require(history, (column,), stage)
                _line(ax, shared[stage], history[column], color=colour,
                      linestyle=LINESTYLES[k % 4], label=f"{label}, {val_set}")
                values.append(history[column].to_numpy(dtype=float))
        for k, (val_set, reference) in enumerate((bicubic or {}).items()):
            if math.isfinite(reference[k_metric]):
                ax.axhline(reference[k_metric], color="black", linewidth=1, alpha=0.6,
                           linestyle=LINESTYLES[k % 4], label=f"bicubic, {val_set}")
                values.append(np.array([reference[k_metric]]))
        _fit_ylim(ax, np.concatenate(values or [np.zeros(0)]))
        _epoch_axis(ax, list(shared.values()))
        for boundary in _boundaries(shared):
            ax.axvline(boundary, color="grey", linewidth=0.8, alpha=0.5)
        ax.set_xlabel(_epoch_label(histories, list(histories)))
        ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
        ax.set_title(f"{metric.upper()} per epoch ({protocol} protocol)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=9, loc="best")
    return fig


def plot_curves(histories: Mapping[str, pd.DataFrame], val_sets: Sequence[str], *, protocol: str,
                out: Path, dpi: int, bicubic: Mapping[str, tuple[float, float]] | None = None) -> None:
    """``curves_figure`` written to ``out`` at ``dpi``."""
    save_figure(curves_figure(histories, val_sets, protocol=protocol, bicubic=bicubic), out, dpi=dpi)


def losses_figure(histories: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """Training losses (epoch means) against epoch, on the run's one epoch axis.

    Parameters
    ----------
    histories : {"srresnet": DataFrame, "srgan": DataFrame}, either or both, in training order.
        One row per epoch. SRResNet needs ``epoch, mse`` (pixel MSE of images in [-1, 1]); SRGAN
        needs ``epoch, g_loss, content_loss, adversarial_loss, d_loss``.

    Layout: left, the generator's objective (SRResNet's MSE, SRGAN's content loss and total
    ``g_loss``); right, when SRGAN is present, the adversarial terms (G's ``-log D(G(LR))`` and
    D's binary cross-entropy). Each panel is log-scaled when all its values are positive.
    """
    _check_stages(histories)
    shared = stage_epochs(histories)
    two = "srgan" in histories
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(11 if two else 6, 4.6),
                             constrained_layout=True, squeeze=False)
    generator, adversarial = axes[0, 0], axes[0, -1]
    for stage, history in histories.items():
        epochs = shared[stage]
        if stage == "srresnet":
            _require(history, ("epoch", "mse"), stage)
            _line(generator, epochs, history["mse"], color="tab:blue", label="SRResNet: pixel MSE")
        else:
            _require(history, ("epoch", "g_loss", "content_loss", "adversarial_loss", "d_loss"), stage)
            _line(generator, epochs, history["content_loss"], color="tab:orange",
                  label="SRGAN: content loss")
            _line(generator, epochs, history["g_loss"], color="tab:red",
                  label="SRGAN: g_loss = content + w * adversarial")
            _line(adversarial, epochs, history["adversarial_loss"], color="tab:purple",
                  label="G adversarial: -log D(G(LR))")
            _line(adversarial, epochs, history["d_loss"], color="tab:brown", linestyle="--",
                  label="D loss: BCE on HR and SR")
    panels = [(generator, list(histories))] + ([(adversarial, ["srgan"])] if two else [])
    for ax, shown in panels:
        # Before the boundary lines, whose y runs from 0 to 1 and whose x is not an epoch.
        _log_if_positive(ax)
        _epoch_axis(ax, [shared[stage] for stage in shown])
        ax.set_xlabel(_epoch_label(histories, shown))
        ax.grid(alpha=0.3, which="both")
        # Below the axes: loss curves fill their panel, so no corner is reliably free.
        ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2,
                  frameon=False)
    for boundary in _boundaries(shared):  # SRResNet | SRGAN; the adversarial panel is SRGAN's alone
        generator.axvline(boundary, color="grey", linewidth=0.8, alpha=0.5)
    generator.set_title("Generator losses per epoch")
    if two:
        adversarial.set_title("Adversarial losses per epoch (SRGAN)")
    return fig


def plot_losses(histories: Mapping[str, pd.DataFrame], *, out: Path, dpi: int) -> None:
    """``losses_figure`` written to ``out`` at ``dpi``."""
    save_figure(losses_figure(histories), out, dpi=dpi)


def discriminator_figure(histories: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """Mean D(HR) and D(SR) per SRGAN epoch, probabilities in [0, 1], with 0.5 marked.

    ``histories`` as for ``losses_figure``, which fixes SRGAN's epochs on the run's axis; SRGAN's
    has ``epoch, d_real, d_fake``: the mean sigmoid of D's logits on the HR batch and on G's
    outputs, averaged over the epoch's iterations.
    """
    _check_stages(histories)
    if "srgan" not in histories:
        raise ValueError(f"the discriminator figure needs the srgan history, got {list(histories)}")
    history = histories["srgan"]
    _require(history, ("epoch", "d_real", "d_fake"), "srgan")
    shared = stage_epochs(histories)
    epochs = shared["srgan"]
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1.2, label="0.5: D cannot tell")
    _line(ax, epochs, history["d_real"], color="tab:green", label="D(HR): real images", clip_on=False)
    _line(ax, epochs, history["d_fake"], color="tab:red", linestyle="--",
          label="D(SR): SRGAN outputs", clip_on=False)
    ax.set_ylim(0, 1)
    _epoch_axis(ax, [epochs])
    ax.set_xlabel(_epoch_label(histories, ["srgan"]))
    ax.set_ylabel("mean probability of 'real'")
    ax.set_title("Discriminator outputs per SRGAN epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    return fig


def plot_discriminator(histories: Mapping[str, pd.DataFrame], *, out: Path, dpi: int) -> None:
    """``discriminator_figure`` written to ``out`` at ``dpi``."""
    save_figure(discriminator_figure(histories), out, dpi=dpi)


def read_histories(stages: Sequence[str], history_csvs: Sequence[Path]) -> dict[str, pd.DataFrame]:
    """``{stage: history}`` in training order (``history_csvs[i]`` is ``stages[i]``'s), as the
    training figures take them."""
    return {stage: pd.read_csv(path) for stage, path in zip(stages, history_csvs, strict=True)}


def bicubic_references(test_sets: Sequence[str],
                       metrics_csvs: Sequence[Path]) -> dict[str, tuple[float, float]]:
    """``{set: (mean PSNR, mean SSIM)}`` of the bicubic baseline (``metrics_csvs[i]`` is
    ``test_sets[i]``'s), the reference lines of ``curves_figure``."""
    return {name: read_mean(Path(path)) for name, path in zip(test_sets, metrics_csvs, strict=True)}


def plot_training_figures(history_csvs: Sequence[Path], *, stages: Sequence[str],
                          val_sets: Sequence[str], bicubic_csvs: Sequence[Path],
                          bicubic_sets: Sequence[str], protocol: str, dpi: int, curves_out: Path,
                          losses_out: Path, discriminator_out: Path) -> None:
    """Rule figure_curves: the curves (with the bicubic lines of the validation sets that are
    also test sets), losses and discriminator figures of a run, from its history CSVs."""
    histories = read_histories(stages, history_csvs)
    plot_curves(histories, list(val_sets), protocol=protocol, out=Path(curves_out), dpi=dpi,
                bicubic=bicubic_references(bicubic_sets, bicubic_csvs))
    plot_losses(histories, out=Path(losses_out), dpi=dpi)
    plot_discriminator(histories, out=Path(discriminator_out), dpi=dpi)


# ---------------------------------------------------------------------------------------------
# Perception-distortion plane


def perception_points(means: Mapping[str, tuple[float | None, float | None]]) -> pd.DataFrame:
    """``{method: (psnr_db, lpips)}`` as the ``points`` of ``perception_figure``, in that order.

    None (not measured) becomes NaN.
    """
    rows = [{"method": str(method), "psnr": np.nan if psnr is None else float(psnr),
             "lpips": np.nan if lpips is None else float(lpips)}
            for method, (psnr, lpips) in means.items()]
    return pd.DataFrame(rows, columns=["method", "psnr", "lpips"])


def _mean_row(metrics_csv: Path) -> tuple[float, float]:
    """(PSNR, LPIPS) of the ``image=mean`` row; LPIPS NaN when its column is absent or empty."""
    frame = pd.read_csv(metrics_csv)
    if "image" not in frame.columns or "psnr" not in frame.columns:
        raise ValueError(f"{metrics_csv} needs columns image and psnr; it has {list(frame.columns)}")
    mean = frame[frame["image"].astype(str) == "mean"]
    if len(mean) != 1:
        raise ValueError(f"{metrics_csv} has {len(mean)} rows with image=mean; expected one")
    lpips = pd.to_numeric(mean["lpips"], errors="coerce").iloc[0] if "lpips" in mean else np.nan
    return float(mean["psnr"].iloc[0]), float(lpips)


def perception_inputs(metrics_csvs: Sequence[Path], methods: Sequence[str], history_csv: Path | None,
                      test_set: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``points`` and ``trajectory`` of ``perception_figure`` from the evaluation's files.

    ``metrics_csvs[i]`` is the per-image metrics.csv of ``methods[i]`` (a label) on ``test_set``,
    with an ``image=mean`` row and columns psnr, lpips (lpips absent or empty: NaN).
    ``history_csv`` is SRGAN's history; its ``<test_set>_psnr`` and ``<test_set>_lpips`` give the
    trajectory (lpips NaN when absent). No history, or ``test_set`` not a validation set: None.
    """
    if len(metrics_csvs) != len(methods):
        raise ValueError(f"{len(metrics_csvs)} metrics files for {len(methods)} methods "
                         f"{list(methods)}; give one file per method, in the same order")
    repeated = sorted({m for m in methods if list(methods).count(m) > 1})
    if repeated:
        raise ValueError(f"methods {list(methods)} repeat {repeated}; each label names one point")
    points = perception_points({method: _mean_row(Path(path))
                                for method, path in zip(methods, metrics_csvs)})
    if history_csv is None:
        return points, None
    history = pd.read_csv(history_csv)
    psnr, lpips = metric_column(test_set, "psnr"), metric_column(test_set, "lpips")
    if "epoch" not in history.columns or psnr not in history.columns:
        log.warning("%s has no per-epoch %s (columns: %s); no SRGAN trajectory", history_csv, psnr,
                    list(history.columns))
        return points, None
    trajectory = pd.DataFrame({
        "epoch": history["epoch"].astype(float), "psnr": history[psnr].astype(float),
        "lpips": pd.to_numeric(history[lpips], errors="coerce") if lpips in history else np.nan})
    return points, trajectory


def _method_colour(method: str, others: list[str]) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    if method not in others:
        others.append(method)
    return OTHER_COLOURS[others.index(method) % len(OTHER_COLOURS)]


# Label offsets in points, tried in turn: beside the four corners of a point, its sides, then
# the same farther out.
LABEL_OFFSETS = tuple((k, k * dx, k * dy, ha, va) for k in (1, 2.5) for dx, dy, ha, va in (
    (6, 4, "left", "bottom"), (-6, 4, "right", "bottom"), (6, -4, "left", "top"),
    (-6, -4, "right", "top"), (8, 0, "left", "center"), (-8, 0, "right", "center"),
    (0, 8, "center", "bottom"), (0, -8, "center", "top")))
# What a label may cover, cheapest first: a thin line, a marker, the outside of the axes, a label.
# A far offset costs as much as covering a 15 x 15 pixel stretch of line: far labels read as
# another point's.
COVER_COST = {"line": 1.0, "marker": 3.0, "outside": 3.0, "label": 20.0, "far": 225.0}


def _area(a: Bbox, b: Bbox) -> float:
    both = Bbox.intersection(a, b)
    return 0.0 if both is None else both.width * both.height


def _obstacles(ax: plt.Axes) -> list[tuple[Bbox, float]]:
    """Display boxes, with their cost, of the drawn markers and of points along every line."""
    boxes = []
    for collection in ax.collections:
        radius = math.sqrt(float(np.max(collection.get_sizes()))) / 2 * ax.figure.dpi / 72
        for x, y in ax.transData.transform(collection.get_offsets()):
            boxes.append((Bbox.from_extents(x - radius, y - radius, x + radius, y + radius),
                          COVER_COST["marker"]))
    for line in ax.get_lines():
        xy = ax.transData.transform(line.get_xydata())  # (N, 2) pixels
        along = [a + t * (b - a) for a, b in itertools.pairwise(xy) for t in np.linspace(0, 1, 6)] or list(xy)
        boxes += [(Bbox.from_extents(x - 3, y - 3, x + 3, y + 3), COVER_COST["line"]) for x, y in along]
    return boxes


def _place_labels(ax: plt.Axes, labels: Sequence[tuple[str, float, float, str]]) -> None:
    """Annotate each ``(text, x, y, colour)`` at the offset of ``LABEL_OFFSETS`` whose text covers
    least (weighted by ``COVER_COST``) of the lines, markers, outside of the axes and the labels
    placed before it, near offsets preferred: ablation rows often lie within a fraction of a dB
    of each other."""
    ax.figure.canvas.draw()  # fixes limits and layout, so the display boxes below hold
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = _obstacles(ax)
    for text, x, y, colour in labels:
        best = None
        for k, dx, dy, ha, va in LABEL_OFFSETS:
            artist = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha,
                                 va=va, fontsize=9, color=colour, zorder=6)
            artist.set_in_layout(False)  # else the layout moves the axes, and the boxes with it
            box = artist.get_window_extent(renderer)
            cost = (sum(weight * _area(box, other) for other, weight in taken)
                    + COVER_COST["outside"] * (box.width * box.height - _area(box, frame))
                    + (COVER_COST["far"] if k > 1 else 0.0))
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, artist, box)
            else:
                artist.remove()
            if cost == 0:
                break
        taken.append((best[2].padded(1.5), COVER_COST["label"]))


def _notice(ax: plt.Axes, text: str) -> None:
    """A boxed message at the top of the axes, wrapped to about their width."""
    ax.text(0.5, 0.96, textwrap.fill(text, 70), transform=ax.transAxes, ha="center", va="top",
            fontsize=10, bbox={"boxstyle": "round,pad=0.5", "facecolor": "#fff3cd",
                               "edgecolor": "#b58100"}, zorder=7)


def _trajectory(ax: plt.Axes, trajectory: pd.DataFrame | None) -> list[tuple[str, float, float, str]]:
    """SRGAN's per-epoch (PSNR, LPIPS) as a thin line; the labels of its first and last epochs.

    The epochs are SRGAN's own (its history's, from 1), as the legend says: this figure has no
    SRResNet stage to continue.
    """
    if trajectory is None or not len(trajectory):
        return []
    _require(trajectory, ("epoch", "psnr", "lpips"), "trajectory")
    path = trajectory.astype({"epoch": float, "psnr": float, "lpips": float})
    path = path[np.isfinite(path["psnr"]) & np.isfinite(path["lpips"])].sort_values("epoch")
    if not len(path):
        return []
    line, = ax.plot(path["psnr"], path["lpips"], marker="o", markersize=2.5, linewidth=0.9,
                    color="tab:red", alpha=0.45, zorder=3,
                    label="SRGAN per epoch (of SRGAN training)")
    ax.legend(handles=[line], fontsize=9, loc="best")  # the points carry their own names
    ends = [path.iloc[0]] + ([path.iloc[-1]] if len(path) > 1 else [])
    return [(f"epoch {end['epoch']:g}", end["psnr"], end["lpips"], "tab:red") for end in ends]


def perception_figure(points: pd.DataFrame, trajectory: pd.DataFrame | None, *, test_set: str,
                      unavailable: str | None = None) -> plt.Figure:
    """The methods on the perception-distortion plane (Blau and Michaeli 2018).

    Parameters
    ----------
    points : one row per method: ``method`` (label), ``psnr`` (dB, higher is better), ``lpips``
        (AlexNet LPIPS, in [0, 1] in practice, lower is better; NaN where not measured).
    trajectory : SRGAN per validation epoch, ``epoch, psnr, lpips``; None or empty: left out.
    test_set : named in the title.
    unavailable : why LPIPS could not be computed (e.g. offline weights). Then, or when no method
        has an LPIPS value, the figure is the PSNR alone: one row per method (named on the y
        axis), under a boxed "LPIPS unavailable: <reason>".

    Each method is a labelled point; the trajectory is a thin line with small markers, its first
    and last epochs labelled. Methods without a finite value are named in a note.
    """
    _require(points, ("method", "psnr"), "points")
    methods = [str(m) for m in points["method"]]
    psnr = points["psnr"].to_numpy(dtype=float)
    lpips = (pd.to_numeric(points["lpips"], errors="coerce").to_numpy(dtype=float)
             if "lpips" in points else np.full(len(points), np.nan))
    with_lpips = unavailable is None and bool(np.isfinite(lpips).any())
    shown = np.isfinite(psnr) & (np.isfinite(lpips) if with_lpips else True)
    fig, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    others: list[str] = []
    colours = [_method_colour(m, others) for m in methods]
    if with_lpips:
        labels = []
        for method, x, y, colour, show in zip(methods, psnr, lpips, colours, shown):
            if show:
                ax.scatter([x], [y], s=50, color=colour, zorder=4, label=method)
                labels.append((method, x, y, colour))
        labels += _trajectory(ax, trajectory)
        ax.margins(0.15)
        ax.set_ylabel("LPIPS (AlexNet, lower is better)")
        _place_labels(ax, labels)
    else:
        rows = [k for k in range(len(methods)) if shown[k]]
        for row, k in enumerate(reversed(rows)):  # the first method on top
            ax.scatter([psnr[k]], [row], s=50, color=colours[k], zorder=4, label=methods[k])
            ax.annotate(f"{psnr[k]:.2f} dB", (psnr[k], row), xytext=(7, 0), textcoords="offset points",
                        va="center", fontsize=9, color=colours[k])
        ax.set_yticks(range(len(rows)), [methods[k] for k in reversed(rows)])
        for tick, k in zip(ax.get_yticklabels(), reversed(rows)):
            tick.set_color(colours[k])
        ax.set_ylim(-0.6, len(rows) - 1 + 1.8)  # room above the rows for the notice
        ax.margins(x=0.15)
        low, high = ax.get_xlim()
        ax.set_xlim(low, high + 0.1 * (high - low))  # room for the rightmost value's label
        reason = unavailable if unavailable is not None else "no method has an LPIPS value (all NaN)"
        _notice(ax, f"LPIPS unavailable: {reason}")
    missing = [m for m, show in zip(methods, shown) if not show]
    if missing:
        ax.text(0.01, 0.01, f"not shown (no value): {', '.join(missing)}", transform=ax.transAxes,
                fontsize=9, color="0.3", va="bottom")
    ax.set_xlabel("PSNR (dB, higher is better)")
    ax.set_title(f"Perception-distortion plane, {test_set} (Blau and Michaeli 2018)")
    ax.grid(alpha=0.3)
    return fig


def plot_perception_distortion(points: pd.DataFrame, trajectory: pd.DataFrame | None, *,
                               test_set: str, out: Path, dpi: int,
                               unavailable: str | None = None) -> None:
    """``perception_figure`` written to ``out`` at ``dpi``; written also when LPIPS is missing."""
    save_figure(perception_figure(points, trajectory, test_set=test_set, unavailable=unavailable),
                out, dpi=dpi)


def plot_perception_from_files(metrics_csvs: Sequence[Path], *, methods: Sequence[str],
                               history_csv: Path, lpips_status: Path, test_set: str, out: Path,
                               dpi: int) -> None:
    """Rule figure_perception: ``perception_inputs`` drawn by ``plot_perception_distortion``,
    saying why LPIPS is missing when the experiment's ``lpips_status`` file says it is."""
    points, trajectory = perception_inputs([Path(p) for p in metrics_csvs], list(methods),
                                           Path(history_csv), test_set)
    plot_perception_distortion(points, trajectory, test_set=test_set, out=Path(out), dpi=dpi,
                               unavailable=lpips_unavailable_reason(Path(lpips_status)))
