"""Chart images (PNG) of the evaluation figures, drawn with matplotlib.

matplotlib is imported here, inside the functions, and only when a chart is drawn: the bot
starts and answers without it. Drawing takes a few hundred milliseconds of CPU, so callers run
these functions in a worker thread (``asyncio.to_thread``). Every text is set in the font
shipped with the project (``bot/assets/fonts``, loaded by its path), never one the machine
happens to have: Chinese labels render the same everywhere.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import bot

FONT = Path(bot.__file__).resolve().parent / "assets" / "fonts" / "NotoSansSC-Subset.otf"
DPI = 100
WIDTH_INCHES = 10.0
ACK_COLOUR = "#2f6db5"
REPLY_COLOUR = "#e08a2c"


@cache
def font(path: Path = FONT) -> Any:
    """The chart font's properties, from its file (``matplotlib.font_manager.FontProperties``)."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(path))


def text_image(text: str, path: Path = FONT, size: int = 28) -> bytes:
    """One line of text drawn alone (PNG): how a label renders in the font at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 1), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(0.02, 0.3, text, fontproperties=font(path), fontsize=size)
    return _png(figure)


def rates_chart(
    title: str,
    rows: Sequence[tuple[str, float | None, float | None]],
    legend: tuple[str, str],
    no_value: str,
) -> bytes:
    """Grouped bars, one group per organisation: on-time acknowledgement and reply rates in
    percent (a rate without a denominator is no bar, marked ``no_value``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    prop = font()
    count = max(1, len(rows))
    figure = Figure(figsize=(max(WIDTH_INCHES, 0.9 * count + 2), 5.6), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.38
    for offset, index, colour, label in (
        (-width / 2, 1, ACK_COLOUR, legend[0]),
        (width / 2, 2, REPLY_COLOUR, legend[1]),
    ):
        xs = [i + offset for i in range(len(rows))]
        values = [row[index] for row in rows]
        heights = [0.0 if v is None else 100 * float(v) for v in values]
        bars = axes.bar(xs, heights, width, color=colour, label=label)
        for bar, value in zip(bars, values, strict=True):
            shown = no_value if value is None else f"{round(100 * float(value))}%"
            axes.annotate(
                shown,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontproperties=prop,
                fontsize=9,
            )
    axes.set_ylim(0, 112)
    axes.set_yticks([0, 25, 50, 75, 100])
    axes.set_yticklabels(["0%", "25%", "50%", "75%", "100%"], fontproperties=prop)
    axes.set_xticks(list(range(len(rows))))
    axes.set_xticklabels(
        [row[0] for row in rows],
        fontproperties=prop,
        fontsize=10,
        rotation=30 if count > 6 else 0,
        ha="right" if count > 6 else "center",
    )
    axes.set_title(title, fontproperties=prop, fontsize=14)
    axes.legend(prop=prop, loc="upper right", ncols=2, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    figure.tight_layout()
    return _png(figure)


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
