"""A PNG of paired histograms, written with zlib and struct only (no plotting library).

Each panel shows one feature: a title line, then per bin the training data's share (grey) and the
recent requests' share (red) as bars on a common scale. Text is drawn with a 3x5 pixel font.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LEGEND_HEIGHT", "PANEL_HEIGHT", "WIDTH", "Panel", "render_png", "write_png"]

WIDTH, PANEL_HEIGHT, MARGIN, SCALE = 640, 170, 12, 2
LEGEND_HEIGHT = 14 * SCALE
_WHITE, _INK, _AXIS = (255, 255, 255), (30, 30, 30), (200, 200, 200)
BASELINE_COLOUR, RECENT_COLOUR = (150, 150, 150), (214, 64, 40)
_GLYPHS = {  # 3x5, row by row: '#' is ink
    "a": ".#.#.#####.##.#", "b": "##.#.###.#.###.", "c": ".###..#..#...##", "d": "##.#.##.##.###.",
    "e": "####..##.#..###", "f": "####..##.#..#..", "g": ".###..#.##.#.##", "h": "#.##.#####.##.#",
    "i": "###.#..#..#.###", "j": "..#..#..##.#.#.", "k": "#.##.###.#.##.#", "l": "#..#..#..#..###",
    "m": "#.########.##.#", "n": "##.#.##.##.##.#", "o": ".#.#.##.##.#.#.", "p": "##.#.###.#..#..",
    "q": ".#.#.##.###..##", "r": "##.#.###.#.##.#", "s": ".###...#...###.", "t": "###.#..#..#..#.",
    "u": "#.##.##.##.####", "v": "#.##.##.##.#.#.", "w": "#.##.########.#", "x": "#.##.#.#.#.##.#",
    "y": "#.##.#.#..#..#.", "z": "###..#.#.#..###", "0": "####.##.##.####", "1": ".#.##..#..#.###",
    "2": "##...#.#.#..###", "3": "##...#.#...###.", "4": "#.##.####..#..#", "5": "####..##...###.",
    "6": ".###..####.####", "7": "###..#.#..#..#.", "8": "####.#####.####", "9": "####.####..###.",
    "-": "......###......", "_": "............###", ".": ".............#.", ":": "....#.....#....",
    "=": "...###...###...", "(": ".#.#..#..#...#.", ")": ".#...#..#..#.#.", "<": "..#.#.#...#...#",
    ">": "#...#...#.#.#..", " ": "...............", "%": "#.#..#.#.#..#.#", "?": "##...#.#.....#.",
}


@dataclass(frozen=True)
class Panel:
    title: str
    baseline: Sequence[float]  # shares of each bin, 0 to 1
    recent: Sequence[float]


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(_WHITE) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        line = bytes(colour) * (x1 - x0)
        for row in range(y0, y1):
            start = (row * self.width + x0) * 3
            self.pixels[start:start + len(line)] = line

    def text(self, x: int, y: int, words: str, colour: tuple[int, int, int] = _INK) -> None:
        for index, char in enumerate(words.lower()):
            glyph = _GLYPHS.get(char, _GLYPHS["?"])
            for cell, ink in enumerate(glyph):
                if ink == "#":
                    self.rect(x + (index * 4 + cell % 3) * SCALE, y + cell // 3 * SCALE, SCALE,
                              SCALE, colour)


def render_png(panels: Sequence[Panel]) -> bytes:
    """The PNG bytes of one panel per feature, stacked, under a legend."""
    legend = LEGEND_HEIGHT
    canvas = _Canvas(WIDTH, legend + PANEL_HEIGHT * max(1, len(panels)))
    canvas.rect(MARGIN, MARGIN // 2, 8 * SCALE, 5 * SCALE, BASELINE_COLOUR)
    canvas.text(MARGIN + 10 * SCALE, MARGIN // 2, "training data")
    canvas.rect(MARGIN + 80 * SCALE, MARGIN // 2, 8 * SCALE, 5 * SCALE, RECENT_COLOUR)
    canvas.text(MARGIN + 90 * SCALE, MARGIN // 2, "recent requests")
    for index, panel in enumerate(panels):
        _panel(canvas, legend + index * PANEL_HEIGHT, panel)
    return _encode(canvas)


def write_png(path: Path, panels: Sequence[Panel]) -> None:
    path.write_bytes(render_png(panels))


def _panel(canvas: _Canvas, top: int, panel: Panel) -> None:
    canvas.text(MARGIN, top + 4, panel.title[:75])
    floor, height = top + PANEL_HEIGHT - MARGIN, PANEL_HEIGHT - 8 * SCALE - 2 * MARGIN
    canvas.rect(MARGIN, floor, WIDTH - 2 * MARGIN, 1, _AXIS)
    bins = max(1, len(panel.baseline), len(panel.recent))
    slot = (WIDTH - 2 * MARGIN) // bins
    peak = max([*panel.baseline, *panel.recent, 1e-9])
    bar = max(1, (slot - 4) // 2)
    for index in range(bins):
        for offset, shares, colour in ((0, panel.baseline, BASELINE_COLOUR),
                                       (bar, panel.recent, RECENT_COLOUR)):
            share = shares[index] if index < len(shares) else 0.0
            tall = round(height * share / peak)
            canvas.rect(MARGIN + index * slot + 2 + offset, floor - tall, bar, tall, colour)


def _encode(canvas: _Canvas) -> bytes:
    stride = canvas.width * 3
    raw = b"".join(b"\x00" + bytes(canvas.pixels[row * stride:(row + 1) * stride])
                   for row in range(canvas.height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", canvas.width, canvas.height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))
