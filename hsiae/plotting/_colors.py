"""Colour differences as people see them: CIELAB and CIEDE2000, for choosing and checking palettes."""

import numpy as np

__all__ = ["cielab", "color_difference"]


def cielab(rgb):
    """CIELAB coordinates (D65 white) of sRGB colours.

    Parameters
    ----------
    rgb : array-like of shape (..., 3) or (..., 4)
        sRGB colours in [0, 1]; an alpha channel is ignored.

    Returns
    -------
    lab : ndarray of shape (..., 3)
        L* (0 black .. 100 white), a* and b*.
    """
    rgb = np.asarray(rgb, dtype=float)[..., :3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (
        linear
        @ np.array(
            [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
        ).T
        / [0.95047, 1.0, 1.08883]
    )
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def color_difference(color1, color2, *, space="rgb"):
    """CIEDE2000 colour difference (Sharma, Wu and Dalal 2005) between colours.

    About 2 is just noticeable side by side; above 10 the colours read as
    plainly different. :func:`segment_colors` is built so that no two of its
    first 55 colours, nor any of them and the no-data colour, come closer
    than about 13.

    Parameters
    ----------
    color1, color2 : array-like of shape (..., 3) or (..., 4)
        Colours, broadcast against each other: sRGB in [0, 1] (alpha ignored)
        with ``space="rgb"``, CIELAB coordinates with ``space="lab"``.
    space : {"rgb", "lab"}, default="rgb"

    Returns
    -------
    difference : ndarray of shape (...)

    Examples
    --------
    >>> from hsiae.plotting import color_difference
    >>> round(float(color_difference([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])), 1)
    100.0
    """
    if space == "rgb":
        color1, color2 = cielab(color1), cielab(color2)
    elif space != "lab":
        raise ValueError(f"space must be 'rgb' or 'lab', got {space!r}")
    lab1, lab2 = color1, color2
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=float), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=float), -1, 0)
    C = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    G = 0.5 * (1 - np.sqrt(C**7 / (C**7 + 25.0**7)))
    a1, a2 = (1 + G) * a1, (1 + G) * a2
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    dh = (h2 - h1 + 180) % 360 - 180
    dh = np.where(C1 * C2 == 0, 0, dh)
    dH = 2 * np.sqrt(C1 * C2) * np.sin(np.radians(dh / 2))
    Lm, Cm = (L1 + L2) / 2, (C1 + C2) / 2
    hm = np.where(np.abs(h1 - h2) > 180, (h1 + h2 + 360) / 2, (h1 + h2) / 2) % 360
    hm = np.where(C1 * C2 == 0, h1 + h2, hm)
    T = (
        1
        - 0.17 * np.cos(np.radians(hm - 30))
        + 0.24 * np.cos(np.radians(2 * hm))
        + 0.32 * np.cos(np.radians(3 * hm + 6))
        - 0.20 * np.cos(np.radians(4 * hm - 63))
    )
    SL = 1 + 0.015 * (Lm - 50) ** 2 / np.sqrt(20 + (Lm - 50) ** 2)
    SC, SH = 1 + 0.045 * Cm, 1 + 0.015 * Cm * T
    RT = -np.sin(np.radians(60 * np.exp(-(((hm - 275) / 25) ** 2)))) * 2 * np.sqrt(Cm**7 / (Cm**7 + 25.0**7))
    dL, dC = L2 - L1, C2 - C1
    return np.sqrt((dL / SL) ** 2 + (dC / SC) ** 2 + (dH / SH) ** 2 + RT * dC / SC * dH / SH)
