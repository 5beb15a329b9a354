"""The house style of a dashboard chart: no Plotly template in what the page receives, the
reader's separators and axis titles, and what the view had set on the layout kept."""

from __future__ import annotations

import json

import plotly.graph_objects as go

from percorso.web.charts import styled


def test_a_styled_chart_has_the_house_settings_and_no_template() -> None:
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2], text=["1", "2"]))
    fig.update_layout(title="Titolo", xaxis={"range": [0, 1]})
    out = json.loads(styled(fig, "it", x_title="Segmento", y_title="Clienti", percent="y", legend=False).to_json())
    layout = out["layout"]
    assert "template" not in layout  # not Plotly's default one either: ~7 KB per chart, and its colours
    assert layout["separators"] == ",." and layout["showlegend"] is False and layout["height"] == 420
    assert layout["xaxis"]["title"]["text"] == "Segmento" and layout["yaxis"]["title"]["text"] == "Clienti"
    assert layout["yaxis"]["tickformat"] == ".0%" and "tickformat" not in layout["xaxis"]
    assert layout["xaxis"]["range"] == [0, 1] and layout["title"]["text"] == "Titolo"  # the view's own, merged
    assert out["data"] == [{"type": "bar", "x": ["a", "b"], "y": [1, 2], "text": ["1", "2"]}]


def test_english_separators_and_a_second_styling_keep_one_layout() -> None:
    fig = styled(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])), "en", height=500)
    again = json.loads(styled(fig, "en", x_title="x").to_json())["layout"]
    assert again["separators"] == ".," and again["height"] == 420 and again["xaxis"]["title"]["text"] == "x"
    assert "template" not in again
