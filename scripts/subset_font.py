"""Make the chart font shipped in ``bot/assets/fonts``: Noto Sans CJK SC Regular cut down to
ASCII, GB2312's characters, CJK punctuation and full-width forms (SIL OFL 1.1).

Run once where Debian's ``fonts-noto-cjk`` is installed (``apt-get install fonts-noto-cjk``)::

    python scripts/subset_font.py /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

The bot never reads the machine's fonts: the charts load the subset by its path.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

OUT = Path(__file__).resolve().parent.parent / "bot/assets/fonts/NotoSansSC-Subset.otf"
SC_INDEX = 2  # in Debian's NotoSansCJK-Regular.ttc: JP, KR, SC, TC, HK, then the Mono faces


def gb2312() -> set[int]:
    """Every character GB2312 encodes (rows 0xA1–0xF7, cells 0xA1–0xFE)."""
    found: set[int] = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                found.add(ord(bytes([hi, lo]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return found


def main(source: str) -> None:
    font = TTCollection(source).fonts[SC_INDEX]
    assert "SC" in font["name"].getDebugName(1), font["name"].getDebugName(1)
    wanted = gb2312()
    wanted |= set(range(0x20, 0x7F))  # ASCII
    wanted |= set(range(0x3000, 0x3040))  # CJK symbols and punctuation
    wanted |= set(range(0xFF00, 0xFFF0))  # full-width forms
    wanted |= {0x00B7, 0x2014, 0x2026, 0x2018, 0x2019, 0x201C, 0x201D, 0x2212, 0x25B2, 0x25BC}
    options = subset.Options()
    options.hinting = False  # FreeType autohints at chart sizes; a third smaller
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=wanted)
    subsetter.subset(font)
    font.save(OUT)
    print(f"{OUT}: {OUT.stat().st_size} bytes, {len(font.getBestCmap())} characters")


if __name__ == "__main__":
    main(
        sys.argv[1]
        if len(sys.argv) > 1
        else "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    )
