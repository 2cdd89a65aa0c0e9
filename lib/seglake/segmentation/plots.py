"""Charts logged with each segmentation run (from small, already aggregated numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - backend must be chosen first

from seglake.segmentation.model import Candidate  # noqa: E402


def model_selection(candidates: Sequence[Candidate], chosen_k: int, min_stability: float, out: Path) -> Path:
    """Silhouette, cost (elbow), stability (seeds and sub-samples) and smallest segment vs k."""
    out.mkdir(parents=True, exist_ok=True)
    ks = [c.k for c in candidates]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    panels = (
        (axes[0], {"silhouette": [c.silhouette for c in candidates]}, "silhouette (higher is better)"),
        (axes[1], {"cost": [c.cost for c in candidates]}, "within-cluster cost (elbow)"),
        (
            axes[2],
            {
                "across seeds": [c.seed_stability for c in candidates],
                "across sub-samples": [c.subsample_stability for c in candidates],
            },
            "stability (adjusted Rand index)",
        ),
        (axes[3], {"smallest segment": [c.min_share * 100 for c in candidates]}, "smallest segment (% of customers)"),
    )
    for ax, series, title in panels:
        for label, values in series.items():
            ax.plot(ks, values, marker="o", label=label)
        ax.axvline(chosen_k, color="tab:red", linestyle="--", label=f"chosen k={chosen_k}")
        ax.set_xlabel("k")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[2].axhline(min_stability, color="grey", linestyle=":", label=f"minimum {min_stability}")
    axes[2].legend(fontsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = out / "model_selection.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def segment_sizes(names: Sequence[str], shares: Sequence[float], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.2))
    ax.barh(list(names), [s * 100 for s in shares], color="tab:blue")
    ax.set_xlabel("% of customers")
    ax.invert_yaxis()
    fig.tight_layout()
    path = out / "segment_sizes.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def centroid_heatmap(names: Sequence[str], features: Sequence[str], z: Sequence[Sequence[float]], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(features), 1.2 + 0.5 * len(names)))
    im = ax.imshow(z, cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    ax.set_xticks(range(len(features)), labels=features, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    fig.colorbar(im, ax=ax, label="z-score vs population")
    fig.tight_layout()
    path = out / "centroid_heatmap.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
