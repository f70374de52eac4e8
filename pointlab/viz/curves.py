"""Training curves (loss, learning rate, validation metrics per epoch) from a run's logs, as a PNG.

The source is ``save_path/train.log`` in Pointcept's line shapes, so runs of either framework plot:

    ... Train: [3/8][12/40] Data 0.001 (0.002) Batch 0.412 (0.398) Remain 00:03:10 loss: 1.2345 Lr: 0.00420
    ... Train result: loss: 1.1873
    ... Test: [2/5] Loss 1.3021                                  (evaluator: validation loss per batch)
    ... Val result: mIoU/mAcc/allAcc 0.4123/0.5234/0.8012.       (or mAP/AP50/AP25 for instance runs)
    ... >>>>>>>>>>>>>>>> Start Precise Evaluation >>>>>>>>>>>>>>>>   (later "Val result" lines are the final test)

Every ``key: value`` pair of an iteration line is kept (``loss``, ``seg_loss``, ``bias_l1_loss`` …,
``Lr``). A resumed run appends to the same file; a later line for the same epoch/iteration replaces
the earlier one. Without a usable ``train.log`` the tensorboard events in ``save_path`` are read
(``params/lr``, ``train_batch/*``, ``train/*``, ``val/*``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrainingHistory", "parse_train_log", "read_tensorboard", "load_history", "plot_training_curves"]

_ITER = re.compile(r"Train: \[(\d+)/(\d+)\]\[(\d+)/(\d+)\](.*)$")
_PAIR = re.compile(r"([A-Za-z_][\w/.\-]*): (-?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|inf))(?=\s|$)")
_TRAIN_RESULT = re.compile(r"Train result: (.*)$")
_VAL_LOSS = re.compile(r"Test: \[\d+/\d+\] Loss (\S+)")
_VAL_RESULT = re.compile(r"Val result: ([\w/%]+) ([-\w./]+?)\.?\s*$")
_PRECISE = "Start Precise Evaluation"


@dataclass
class TrainingHistory:
    """What a run logged.

    ``iter_x`` [M] fractional epochs of the logged iterations (``epoch - 1 + iter / iters_per_epoch``),
    ``iter_values`` key → [M] (NaN where an iteration did not log the key), ``epochs`` sorted epoch
    numbers with ``epoch_values`` key → [E] (``train/<key>`` epoch averages, ``val/<metric>``,
    ``val/loss``; NaN where missing), ``final`` the precise-evaluation metrics, ``max_epoch``.
    """

    iter_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    iter_values: dict = field(default_factory=dict)
    epochs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    epoch_values: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    max_epoch: int | None = None
    source: str = ""

    @property
    def empty(self) -> bool:
        return self.iter_x.size == 0 and self.epochs.size == 0


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _val_pairs(names: str, values: str) -> dict:
    keys, vals = names.split("/"), values.rstrip(".").split("/")
    return {k: _float(v) for k, v in zip(keys, vals)} if len(keys) == len(vals) else {}


def _assemble(iter_rows: dict, epoch_rows: dict, final: dict, max_epoch, source) -> TrainingHistory:
    h = TrainingHistory(final=final, max_epoch=max_epoch, source=source)
    if iter_rows:
        order = sorted(iter_rows)
        h.iter_x = np.array([x for x in order], dtype=np.float64)
        keys = sorted({k for row in iter_rows.values() for k in row})
        h.iter_values = {k: np.array([iter_rows[x].get(k, np.nan) for x in order], dtype=np.float64) for k in keys}
    if epoch_rows:
        order = sorted(epoch_rows)
        h.epochs = np.array(order, dtype=np.int64)
        keys = sorted({k for row in epoch_rows.values() for k in row})
        h.epoch_values = {k: np.array([epoch_rows[e].get(k, np.nan) for e in order], dtype=np.float64) for k in keys}
    return h


def parse_train_log(path: str | os.PathLike) -> TrainingHistory:
    """Parse a ``train.log`` (see the module docstring for the recognised lines)."""
    iter_rows: dict[float, dict] = {}
    epoch_rows: dict[int, dict] = {}
    final: dict = {}
    epoch, max_epoch, precise = 0, None, False
    val_losses: list[float] = []
    with open(path, errors="replace") as f:
        for line in f:
            m = _ITER.search(line)
            if m:
                epoch, max_epoch = int(m.group(1)), int(m.group(2))
                it, n_iter = int(m.group(3)), int(m.group(4))
                x = epoch - 1 + it / max(n_iter, 1)
                iter_rows[x] = {k: _float(v) for k, v in _PAIR.findall(m.group(5))}
                precise = False
                continue
            if _PRECISE in line:
                precise = True
                continue
            m = _TRAIN_RESULT.search(line)
            if m and epoch:
                row = epoch_rows.setdefault(epoch, {})
                row.update({f"train/{k}": _float(v) for k, v in _PAIR.findall(m.group(1))})
                val_losses = []
                continue
            m = _VAL_LOSS.search(line)
            if m and not precise:
                val_losses.append(_float(m.group(1)))
                continue
            m = _VAL_RESULT.search(line)
            if m:
                pairs = _val_pairs(m.group(1), m.group(2))
                if precise:
                    final.update(pairs)
                elif epoch:
                    row = epoch_rows.setdefault(epoch, {})
                    row.update({f"val/{k}": v for k, v in pairs.items()})
                    if val_losses:
                        row["val/loss"] = float(np.mean(val_losses))
                    val_losses = []
    return _assemble(iter_rows, epoch_rows, final, max_epoch, str(path))


def read_tensorboard(log_dir: str | os.PathLike) -> TrainingHistory:
    """Read the scalars the trainer writes to tensorboard under ``log_dir`` (needs ``tensorboard``)."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={SCALARS: 0})
    acc.Reload()
    tags = acc.Tags().get("scalars", [])
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags}
    epoch_rows: dict[int, dict] = {}
    for tag, events in scalars.items():
        if tag.startswith(("train/", "val/")):
            for step, value in events:
                epoch_rows.setdefault(int(step), {})[tag] = float(value)
    max_epoch = max(epoch_rows) if epoch_rows else None
    iter_tags = [t for t in tags if t.startswith("train_batch/") or t == "params/lr"]
    max_step = max((s for t in iter_tags for s, _ in scalars[t]), default=0)
    per_epoch = max_step / max_epoch if max_epoch else 1.0  # global iteration → fractional epoch
    iter_rows: dict[float, dict] = {}
    for tag in iter_tags:
        key = "Lr" if tag == "params/lr" else tag.split("/", 1)[1]
        for step, value in scalars[tag]:
            iter_rows.setdefault(step / per_epoch, {})[key] = float(value)
    return _assemble(iter_rows, epoch_rows, {}, max_epoch, str(log_dir))


def load_history(save_path: str | os.PathLike) -> TrainingHistory:
    """``save_path/train.log`` when it holds training lines, else the tensorboard events there."""
    save_path = str(save_path)
    log = os.path.join(save_path, "train.log") if os.path.isdir(save_path) else save_path
    if os.path.isfile(log):
        history = parse_train_log(log)
        if not history.empty:
            return history
    folder = save_path if os.path.isdir(save_path) else os.path.dirname(save_path)
    if folder and any(name.startswith("events.out.tfevents") for _, _, files in os.walk(folder) for name in files):
        try:
            history = read_tensorboard(folder)
        except ImportError:
            history = TrainingHistory()
        if not history.empty:
            return history
    raise FileNotFoundError(
        f"no training history in {save_path}: expected train.log with 'Train: [e/E][i/n] ... loss: ...' lines "
        f"or tensorboard event files. Pass the run's save_path (the folder holding train.log)"
    )


def _smooth(y: np.ndarray, weight: float) -> np.ndarray:
    """Tensorboard-style exponential moving average with bias correction (NaNs skipped)."""
    out = np.full_like(y, np.nan)
    avg, norm = 0.0, 0.0
    for i, v in enumerate(y):  # one value per logged iteration (thousands), not per point
        if np.isfinite(v):
            avg = weight * avg + (1 - weight) * v
            norm = weight * norm + (1 - weight)
            out[i] = avg / norm
    return out


_VAL_ORDER = ("mIoU", "mAcc", "allAcc", "mAP", "AP50", "AP25")


def plot_training_curves(history: TrainingHistory | str | os.PathLike, path: str | os.PathLike,
                         title: str | None = None, smooth: float = 0.8, dpi: int = 110) -> str:
    """Write a PNG with three panels: training losses, learning rate, validation metrics (per epoch).

    Args:
        history: a :class:`TrainingHistory` or a run's ``save_path`` (see :func:`load_history`).
        path: output ``.png``.
        smooth: EMA weight for the per-iteration loss (0 = raw only).
    Returns:
        ``str(path)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(history, TrainingHistory):
        if title is None:
            title = os.path.basename(os.path.normpath(str(history)))
        history = load_history(history)
    h = history
    fig = Figure(figsize=(16.5, 4.6), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    xmax = h.max_epoch or (max(h.iter_x.max(initial=0), h.epochs.max(initial=0)) or 1)

    # 1. losses
    ax = axes[0]
    loss_keys = sorted((k for k in h.iter_values if "loss" in k.lower()), key=lambda k: (k != "loss", k))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"]
    for i, key in enumerate(loss_keys):
        y, c = h.iter_values[key], colors[i % len(colors)]
        main = key == "loss"
        ax.plot(h.iter_x, y, color=c, alpha=0.25 if main else 0.15, lw=0.8)
        ax.plot(h.iter_x, _smooth(y, smooth) if smooth > 0 else y, color=c, lw=2.0 if main else 1.2,
                label=f"{key} (train)")
    for key, style in (("train/loss", dict(marker="o", color="navy", label="loss (epoch mean)")),
                       ("val/loss", dict(marker="s", color="tab:red", label="loss (val)"))):
        if key in h.epoch_values and np.isfinite(h.epoch_values[key]).any():
            ax.plot(h.epochs, h.epoch_values[key], ls="--", lw=1.2, ms=5, **style)
    ax.set_title("Loss", fontsize=11)
    if loss_keys or "train/loss" in h.epoch_values:
        ax.legend(fontsize=8, loc="upper right")
    else:
        ax.text(0.5, 0.5, "no loss logged", ha="center", va="center", transform=ax.transAxes, color="gray")

    # 2. learning rate
    ax = axes[1]
    if "Lr" in h.iter_values and np.isfinite(h.iter_values["Lr"]).any():
        ax.plot(h.iter_x, h.iter_values["Lr"], color="tab:green", lw=1.8)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    else:
        ax.text(0.5, 0.5, "no learning rate logged", ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_title("Learning rate", fontsize=11)

    # 3. validation metrics
    ax = axes[2]
    metrics = [k for k in _VAL_ORDER if f"val/{k}" in h.epoch_values and np.isfinite(h.epoch_values[f"val/{k}"]).any()]
    for i, key in enumerate(metrics):
        y = h.epoch_values[f"val/{key}"]
        main = i == 0
        ax.plot(h.epochs, y, marker="o", ms=6 if main else 4, lw=2.2 if main else 1.2, label=key,
                color=["tab:red", "tab:blue", "tab:gray", "tab:purple", "tab:olive", "tab:cyan"][_VAL_ORDER.index(key)])
        if main and np.isfinite(y).any():
            best = int(np.nanargmax(y))
            late = h.epochs[best] > 0.6 * xmax  # keep the label inside the panel
            ax.annotate(f"best {key} {y[best]:.4f}\n(epoch {h.epochs[best]})", (h.epochs[best], y[best]),
                        xytext=(-14 if late else 14, 14), textcoords="offset points", ha="right" if late else "left",
                        fontsize=8, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="gray", lw=0.5),
                        arrowprops=dict(arrowstyle="-", color="gray", lw=0.6))
    for key in metrics[:1]:
        if key in h.final and np.isfinite(h.final[key]):
            ax.axhline(h.final[key], color="black", ls=":", lw=1.2, label=f"test {key} {h.final[key]:.4f}")
    if metrics:
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no validation results logged\n(evaluate=False?)", ha="center", va="center",
                transform=ax.transAxes, color="gray")
    ax.set_title("Validation", fontsize=11)

    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_xlim(0, xmax * 1.02)
        ax.grid(alpha=0.3)
    fig.suptitle(title or "Training curves", fontsize=13)
    fig.tight_layout()
    fig.savefig(str(path), facecolor="white")
    return str(path)
