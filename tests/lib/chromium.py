"""Headless Chromium (Debian's package) for the report tests, and a PNG reader (stdlib only)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio"]


def binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(extra, url, timeout=120):
    with tempfile.TemporaryDirectory(prefix="rep-chromium-") as profile:
        argv = [binary()] + FLAGS + ["--user-data-dir=%s" % profile] + extra + [url]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def dump_dom(html_path):
    """The DOM after load (scripts ran) as HTML text."""
    proc = _run(["--dump-dom"], Path(html_path).resolve().as_uri())
    if proc.returncode != 0:
        raise AssertionError("chromium --dump-dom failed (rc=%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    return proc.stdout


def screenshot(html_path, png_path, width=1300, height=900):
    proc = _run(["--screenshot=%s" % png_path, "--window-size=%d,%d" % (width, height),
                 "--hide-scrollbars"], Path(html_path).resolve().as_uri())
    if proc.returncode != 0 or not Path(png_path).exists():
        raise AssertionError("chromium --screenshot failed (rc=%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    return png_path


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, dummy, dummy2, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG %r" % (header,)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, pos = [], bytearray(stride), 0
    for dummy in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(a, b, c)) & 0xFF
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def pixel_stats(path):
    """Distinct colours, share of non-white pixels, and the set of colours."""
    width, height, rows = read_png(path)
    colours, non_white = set(), 0
    for row in rows:
        for pixel in row:
            colours.add(pixel)
            if pixel != (255, 255, 255):
                non_white += 1
    return {"width": width, "height": height, "distinct": len(colours),
            "non_white": non_white / float(width * height), "colours": colours}


def hex_rgb(text):
    text = text.lstrip("#")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
