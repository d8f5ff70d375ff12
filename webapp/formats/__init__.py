"""Output formats of /render: each module turns a list of TimeSeries into the bytes
graphite-web 1.1.10 sends, with its content type.

`render(fmt, series_list, options)` -> (body bytes, content type); graph formats
(png, svg, pdf) are drawn by webapp.graph and are not handled here.
"""
from dataclasses import dataclass
from datetime import timezone, tzinfo

from webapp.errors import InputError

DATA_FORMATS = ("json", "csv", "raw", "pickle", "dygraph", "rickshaw")


@dataclass(frozen=True)
class FormatOptions:
    """What the formats need from the request (all already validated)."""

    tz: tzinfo = timezone.utc
    jsonp: str | None = None
    no_null_points: bool = False
    pretty: bool = False


def render(fmt, series_list, options):
    """Format `series_list` as `fmt`; raises InputError for an unknown format."""
    # Imported here so that importing the package stays cheap and cycle-free.
    from webapp.formats import csv_format, json_format, pickle_format, raw_format

    renderers = {
        "json": json_format.render_json,
        "dygraph": json_format.render_dygraph,
        "rickshaw": json_format.render_rickshaw,
        "csv": csv_format.render_csv,
        "raw": raw_format.render_raw,
        "pickle": pickle_format.render_pickle,
    }
    try:
        renderer = renderers[fmt]
    except KeyError:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(DATA_FORMATS)}, "
                         "png, svg, pdf") from None
    return renderer(series_list, options)
