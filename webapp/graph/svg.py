"""SVG post-processing as graphite-web does it: sizes in px, the drawing wrapped in
<g class="graphite">, section markers turned into <g class="title|legend|axes|
grid|lines"> groups, and the graph's metadata embedded in a <script> element."""
import json
import re

from webapp.graph.canvas import MARKER

_ORIGIN = re.escape(f"{MARKER / 256:g}")
_MARKER_PATH = re.compile(
    r'<path[^>]*?d="M %s %s ((?:L [0-9.]+ [0-9.]+ ?)+)"[^>]*/>\n?' % (_ORIGIN, _ORIGIN))
_POINT = re.compile(r"L ([0-9.]+) [0-9.]+")


def _section_name(coords):
    return "".join(chr(round(float(x) * 256)) for x in _POINT.findall(coords))


def finish_svg(data, metadata):
    """Cairo's SVG bytes + metadata dict -> graphite-web's SVG document bytes."""
    text = data.decode("utf-8")
    text = text.replace('pt"', 'px"', 2)  # width and height in pixels, not points
    text = re.sub(r'<g id="(surface\d+)">', r'<g id="\1" class="graphite">', text, count=1)
    text = text.replace("</svg>\n", "", 1).replace("</svg>", "", 1)
    if metadata:
        text, count = _MARKER_PATH.subn(
            lambda m: f'</g><g class="{_section_name(m.group(1))}">\n', text)
        text = re.sub(r'</g>(<g class="[a-zA-Z]+">)', r"\1", text, count=1)
        if count:
            text += "</g>\n"
    else:
        text = _MARKER_PATH.sub("", text)
    payload = json.dumps(metadata).replace("]]>", "]]\\u003e")
    text += f"<script>\n  <![CDATA[\n    metadata = {payload}\n  ]]>\n</script>\n</svg>\n"
    return text.encode("utf-8")
