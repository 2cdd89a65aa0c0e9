"""Charts logged with each propensity run, drawn from already aggregated numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - backend must be chosen first

from seglake.propensity.evaluate import Evaluation  # noqa: E402


def _save(fig, out: Path, name: str) -> Path:
    fig.tight_layout()
    path = out / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roc_curves(curves: dict[str, Evaluation], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, ev in curves.items():
        xs, ys = zip(*ev.roc_curve, strict=True)
        ax.plot(xs, ys, label=f"{name} (AUC {ev.roc_auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, test period")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, out, "roc.png")


def reliability(curves: dict[str, Evaluation], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, ev in curves.items():
        ax.plot(
            [b.mean_score for b in ev.calibration],
            [b.observed_rate for b in ev.calibration],
            marker="o",
            label=f"{name} (Brier {ev.brier:.3f})",
        )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.set_xlabel("mean predicted score")
    ax.set_ylabel("observed rate")
    ax.set_title("reliability, test period")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, out, "reliability.png")


def lift_and_gain(curves: dict[str, Evaluation], out: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    deciles = list(range(1, 11))
    width = 0.8 / max(1, len(curves))
    for i, (name, ev) in enumerate(curves.items()):
        left.bar(
            [d + (i - (len(curves) - 1) / 2) * width for d in deciles], [x.lift for x in ev.deciles], width, label=name
        )
        right.plot([0] + deciles, [0.0] + [x.cumulative_gain for x in ev.deciles], marker="o", label=name)
    left.axhline(1.0, color="grey", linestyle=":")
    left.set_xlabel("decile (1 = highest scores)")
    left.set_ylabel("lift")
    left.set_title("lift by decile")
    left.legend()
    right.plot([0, 10], [0, 1], color="grey", linestyle=":", label="random")
    right.set_xlabel("deciles targeted")
    right.set_ylabel("share of positives found")
    right.set_title("cumulative gain")
    right.legend(loc="lower right")
    for ax in (left, right):
        ax.set_xticks(deciles)
        ax.grid(alpha=0.3)
    return _save(fig, out, "lift_gain.png")


def importances(values: dict[str, float], title: str, out: Path, name: str = "feature_importance.png") -> Path:
    top = sorted(values.items(), key=lambda kv: kv[1])[-20:]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(top) + 1.2))
    ax.barh([k for k, _ in top], [v for _, v in top], color="tab:blue")
    ax.set_xlabel("share of importance")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, out, name)


def search_results(labels: list[str], scores: list[float], best: int, method: str, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    colors = ["tab:red" if i == best else "tab:blue" for i in range(len(labels))]
    ax.barh(labels, scores, color=colors)
    lo = min(scores)
    ax.set_xlim(max(0.0, lo - 0.05), min(1.0, max(scores) + 0.02))
    ax.set_xlabel(f"ROC AUC ({method})")
    ax.set_title("hyper-parameter search (red: chosen)")
    return _save(fig, out, "search.png")
