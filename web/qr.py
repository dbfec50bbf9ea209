"""QR codes of landing page URLs (segno): inline SVG for the page, SVG and PNG files to print."""

from __future__ import annotations

import io

import segno

# M recovers from ~15% damage: enough for a folded flyer, and keeps a URL's code small.
_ERROR = "m"


def svg_inline(url: str, title: str) -> str:
    """An ``<svg>`` element sized by CSS, for embedding in HTML (``title`` is escaped)."""
    return segno.make(url, error=_ERROR).svg_inline(scale=4, border=2, omitsize=True, title=title)


def svg_file(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error=_ERROR).save(out, kind="svg", scale=8, border=4)
    return out.getvalue()


def png_file(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error=_ERROR).save(out, kind="png", scale=8, border=4)
    return out.getvalue()
