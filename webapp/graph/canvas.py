"""The Cairo side: one surface per output format, text measured and drawn in one
font state, colours given as (r, g, b, a). Drawing code never touches cairo's
surfaces directly, so PNG, SVG and PDF differ only here."""
import io
import math
import struct
import zlib

import cairocffi as cairo
import numpy as np
from cairocffi import cairo as cairo_lib

from webapp.errors import InputError

MARKER = 88  # graphite-web's section-marker origin, in 1/256 px here


class Canvas:
    """A width x height drawing surface for `fmt` (png, svg or pdf)."""

    def __init__(self, fmt, width, height):
        self.fmt = fmt
        self.width = width
        self.height = height
        self._buffer = io.BytesIO()
        if fmt == "png":
            self.surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, width, height)
        elif fmt == "svg":
            self.surface = cairo.SVGSurface(self._buffer, width, height)
        elif fmt == "pdf":
            self.surface = cairo.PDFSurface(self._buffer, width, height)
        else:
            raise InputError(f"graph format must be png, svg or pdf, got {fmt!r}")
        self.ctx = cairo.Context(self.surface)
        self._font = None

    # ---- state ------------------------------------------------------------------
    def color(self, rgba):
        self.ctx.set_source_rgba(*rgba)

    def font(self, name, size, bold=False, italic=False):
        key = (name, float(size), bool(bold), bool(italic))
        if key == self._font:
            return
        self._font = key
        slant = cairo.FONT_SLANT_ITALIC if italic else cairo.FONT_SLANT_NORMAL
        weight = cairo.FONT_WEIGHT_BOLD if bold else cairo.FONT_WEIGHT_NORMAL
        self.ctx.select_font_face(name, slant, weight)
        self.ctx.set_font_size(float(size))

    def font_metrics(self):
        """(ascent, descent, height) of the current font."""
        ascent, descent, height, _, _ = self.ctx.font_extents()
        return ascent, descent, height

    def text_width(self, text):
        return self.ctx.text_extents(text)[4]

    # ---- shapes -----------------------------------------------------------------
    def fill_rect(self, x, y, w, h, rgba):
        self.color(rgba)
        self.ctx.rectangle(x, y, w, h)
        self.ctx.fill()

    def stroke_rect(self, x, y, w, h, rgba, width=1.0):
        self.color(rgba)
        self.ctx.set_line_width(width)
        self.ctx.set_dash([], 0)
        self.ctx.rectangle(x + width / 2, y + width / 2, w - width, h - width)
        self.ctx.stroke()

    def line(self, x0, y0, x1, y1, rgba, width):
        self.color(rgba)
        self.ctx.set_line_width(width)
        self.ctx.move_to(x0, y0)
        self.ctx.line_to(x1, y1)
        self.ctx.stroke()

    def polyline(self, xs, ys):
        """Add one open sub-path through the points (lists of floats). The points go
        straight to libcairo: cairocffi's per-call status check costs more than the
        call itself on a graph's thousands of points; the status is checked once."""
        pointer = self.ctx._pointer
        cairo_lib.cairo_move_to(pointer, xs[0], ys[0])
        line_to = cairo_lib.cairo_line_to
        for x, y in zip(xs[1:], ys[1:]):
            line_to(pointer, x, y)
        self.ctx.get_current_point()  # raises CairoError if the path went wrong

    def text(self, text, x, y, rgba, align="left", valign="top", rotate=0):
        """Draw `text` anchored at (x, y); align is left|center|right of the text,
        valign top|middle|bottom|baseline; rotate is in degrees, clockwise."""
        ascent, descent, height = self.font_metrics()
        width = self.text_width(text)
        dx = {"left": 0.0, "center": width / 2, "right": width}[align]
        dy = {"top": ascent, "middle": height / 2 - descent, "bottom": -descent,
              "baseline": 0.0}[valign]
        self.color(rgba)
        ctx = self.ctx
        ctx.save()
        ctx.translate(x, y)
        if rotate:
            ctx.rotate(math.radians(rotate))
        ctx.move_to(-dx, dy)
        ctx.show_text(text)
        ctx.restore()

    def marker(self, name, background):
        """graphite-web's SVG section marker: a path the SVG output turns into a
        <g class="name"> wrapper (see svg.py). Cairo drops paths drawn off the page
        or fully transparent, so the name is spelled in 1/256 px steps inside the
        top-left pixel, in the background colour. A no-op for PNG and PDF."""
        if self.fmt != "svg":
            return
        ctx = self.ctx
        ctx.save()
        self.color(background[:3] + (1.0,))
        ctx.set_line_width(1 / 256)
        ctx.move_to(MARKER / 256, MARKER / 256)
        for i, char in enumerate(name):
            ctx.line_to(ord(char) / 256, (i + 1) / 256)
        ctx.stroke()
        ctx.restore()

    # ---- output -----------------------------------------------------------------
    def finish(self):
        """The encoded image: PNG bytes, or the SVG/PDF document."""
        if self.fmt == "png":
            self.surface.flush()
            return encode_png(self.surface)
        self.surface.finish()
        return self._buffer.getvalue()


def encode_png(surface, level=2):
    """PNG bytes of an ImageSurface: RGB when opaque, else RGBA (un-premultiplied).
    Written here rather than by cairo's write_to_png to choose a fast zlib level and
    the Sub filter, which together halve the encoding time at a similar size."""
    h, w, stride = surface.get_height(), surface.get_width(), surface.get_stride()
    bgra = np.frombuffer(surface.get_data(), np.uint8).reshape(h, stride // 4, 4)[:, :w]
    alpha = bgra[:, :, 3]
    if alpha.min() == 255:
        pixels, color_type, channels = np.empty((h, w, 3), np.uint8), 2, 3
        for i in range(3):  # channel by channel: a reversed-stride copy is 5x slower
            pixels[:, :, i] = bgra[:, :, 2 - i]
    else:
        rgb = bgra[:, :, 2::-1].astype(np.uint16) * 255
        safe = np.maximum(alpha, 1)[:, :, None]
        rgb = np.where(alpha[:, :, None] > 0, (rgb + safe // 2) // safe, 0)
        pixels = np.dstack([rgb.astype(np.uint8), alpha])
        color_type, channels = 6, 4
    rows = np.ascontiguousarray(pixels).reshape(h, w * channels)
    sub = rows.copy()
    sub[:, channels:] -= rows[:, :-channels]  # the Sub filter: difference to the left pixel
    raw = np.empty((h, w * channels + 1), np.uint8)
    raw[:, 0] = 1
    raw[:, 1:] = sub
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"".join((b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
                     _chunk(b"IEND", b"")))


def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
