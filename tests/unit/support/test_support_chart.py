"""The server-side SVG chart: bounded, escaped, gaps break the line, no script."""

from datetime import UTC, datetime, timedelta

from fleet_server.entrypoints.web.support_chart import line_chart

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_a_series_with_a_gap_is_two_lines():
    points = [(T0 + timedelta(minutes=i), v) for i, v in enumerate([-60, -62, None, -70, -71])]
    svg = str(line_chart(points, "Force du signal", "dBm", "#123456", "c1"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2 and "<script" not in svg
    assert "dernière : -71 dBm" in svg and "24/11 10:00" in svg  # Paris time


def test_empty_single_and_hostile_titles():
    assert "Pas encore de mesure" in str(line_chart([], "x", "u", "#000", "c"))
    one = str(line_chart([(T0, 5.0)], "x", "u", "#000", "c"))
    assert "<circle" in one
    hostile = str(line_chart([], "<script>alert(1)</script>", "u", "#000", "c\"><x"))
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile
