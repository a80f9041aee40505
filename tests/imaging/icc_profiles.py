"""Build small ICC v2 RGB matrix/TRC profiles in memory (test fixtures only)."""

from __future__ import annotations

import struct


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def _curve(gamma: float) -> bytes:
    return (
        b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", round(gamma * 256)) + b"\0\0"
    )


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    body = b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_
    body += b"\0" * 8  # unicode language code + count 0
    body += b"\0" * 3 + b"\0" * 67  # scriptcode code, count, 67 bytes
    return body + b"\0" * (-len(body) % 4)


# D50-adapted primaries (as in the published profiles)
ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446), 2.2)
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841), 2.2)


def rgb_profile(name: str, primaries: tuple = ADOBE_RGB) -> bytes:
    """An ICC v2 display profile with the given primaries and a pure-gamma TRC."""
    r, g, b, gamma = primaries
    tags = [
        (b"desc", _desc(name)),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(*r)),
        (b"gXYZ", _xyz(*g)),
        (b"bXYZ", _xyz(*b)),
        (b"rTRC", _curve(gamma)),
        (b"gTRC", _curve(gamma)),
        (b"bTRC", _curve(gamma)),
        (b"cprt", b"text" + b"\0" * 4 + b"none\0\0\0\0"),
    ]
    table_len = 4 + 12 * len(tags)
    offset = 128 + table_len
    entries, data = b"", b""
    for sig, body in tags:
        entries += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + table_len + len(data)
    header = struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"APPL" + b"\0" * 4
    header += b"\0" * 8 + b"\0" * 8 + struct.pack(">I", 0)
    header += _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"lcms" + b"\0" * 16 + b"\0" * 28
    assert len(header) == 128, len(header)
    return header + struct.pack(">I", len(tags)) + entries + data
