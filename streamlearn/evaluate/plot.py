"""Learning-curve plots (``--plot``): matplotlib is the optional extra ``streamlearn[plot]``.

:func:`pyplot` imports matplotlib with the Agg backend, or raises :class:`PlotUnavailable`
with the command that installs it; commands call it before they run anything, so a long run
never fails at its end for want of matplotlib.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PlotUnavailable", "plot_curves", "pyplot"]

INSTALL_HINT = "pip install 'streamlearn[plot]'"


class PlotUnavailable(ImportError):
    """matplotlib is not installed (``--plot`` needs the ``plot`` extra)."""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(
            f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(result: Any, path: str) -> None:
    """The cumulative and windowed curves of a prequential ``result`` (with a curve), as PNG."""
    plt = pyplot()
    xs = [c["instances"] for c in result.curve]
    names = ("micro_f1", "macro_f1", "example_f1", "subset_accuracy", "hamming_loss")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, key, title in (
        (axes[0], "cumulative", "cumulative (whole stream so far)"),
        (axes[1], "windowed", f"sliding window of {result.window}"),
    ):
        for name in names:
            ax.plot(xs, [c[key][name] for c in result.curve], label=name)
        ax.set_title(title)
        ax.set_xlabel("instances")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score")
    axes[0].set_ylim(0, 1)
    axes[1].legend(loc="best", fontsize="small")
    fig.suptitle(
        f"{result.learner} on {result.dataset}: prequential, {result.instances:,} instances, "
        f"{result.instances_per_second:,.0f} inst/s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
