"""Helpers for the graph tests: decode a PNG into an (h, w, 3) RGB array and find
where a colour is."""
import io

import cairocffi as cairo
import numpy as np

from webapp.series import TimeSeries


def pixels(png):
    surface = cairo.ImageSurface.create_from_png(io.BytesIO(png))
    h, w, stride = surface.get_height(), surface.get_width(), surface.get_stride()
    data = np.frombuffer(bytes(surface.get_data()), dtype=np.uint8).reshape(h, stride // 4, 4)
    return data[:, :w, 2::-1].astype(int)  # BGRA in memory -> RGB


def mask(image, rgb, tolerance=40):
    """Where the image is within `tolerance` (sum of channel distances) of rgb."""
    return np.abs(image - np.array(rgb)).sum(axis=2) <= tolerance


def rows_of(image, rgb, column, tolerance=40):
    return np.flatnonzero(mask(image[:, column:column + 1], rgb, tolerance)[:, 0])


def series(name, values, start=1_700_000_000, step=60, **options):
    values = np.asarray(values, dtype=np.float64)
    return TimeSeries(name, start, start + step * len(values), step, values, options=options)


def test_pixels_reads_back_a_known_image():
    surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, 4, 3)
    ctx = cairo.Context(surface)
    ctx.set_source_rgb(1, 0, 0)
    ctx.paint()
    ctx.set_source_rgb(0, 0, 1)
    ctx.rectangle(2, 0, 2, 3)
    ctx.fill()
    out = io.BytesIO()
    surface.write_to_png(out)
    image = pixels(out.getvalue())
    assert image.shape == (3, 4, 3)
    assert image[0, 0].tolist() == [255, 0, 0]
    assert image[2, 3].tolist() == [0, 0, 255]
    assert rows_of(image, (0, 0, 255), 3).tolist() == [0, 1, 2]
