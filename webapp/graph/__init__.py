"""Graphs drawn with Cairo: line graphs and pie charts as PNG, SVG or PDF.

render_graph(series_list, params, fmt) -> bytes; parse_graph_params(query, tz)."""
from webapp.graph.params import GraphParams, parse_graph_params
from webapp.graph.render import render_graph

__all__ = ["GraphParams", "parse_graph_params", "render_graph"]
