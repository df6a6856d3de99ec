"""Unit tests of clipbias.viz: theme, renderer, chart builders, offline HTML and static images."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import altair as alt
import pandas as pd
import pytest

import clipbias.viz as viz
from clipbias.viz import offline, sphinx, theme


@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame(
        {"group": ["a", "b"], "mean": [0.1, 0.4], "lo": [0.0, 0.3], "hi": [0.2, 0.5]}
    )


@pytest.fixture
def chart(summary: pd.DataFrame) -> alt.LayerChart:
    return viz.interval_chart(summary, category="group", estimate="mean", low="lo", high="hi")


def test_import_enables_the_book_theme_and_renderer() -> None:
    assert alt.theme.active == theme.THEME_NAME
    assert alt.renderers.active == viz.RENDERER_NAME
    assert viz.enable_theme() == theme.THEME_NAME  # idempotent
    assert viz.enable_renderer() == viz.RENDERER_NAME


def test_theme_config_reaches_the_spec(chart: alt.LayerChart) -> None:
    spec = chart.to_dict()
    assert spec["config"]["range"]["category"] == list(theme.CATEGORY_COLORS)
    assert len(set(theme.CATEGORY_COLORS)) == len(theme.CATEGORY_COLORS)


def test_renderer_emits_the_spec_as_json_and_html(chart: alt.LayerChart) -> None:
    bundle, _ = offline.book_renderer(chart.to_dict())
    assert bundle["application/vnd.vegalite.v6+json"] == chart.to_dict()
    assert "vegaEmbed" in bundle["text/html"]
    assert "Vega-Lite 6" in bundle["text/plain"]


def test_interval_chart_layers_rules_and_points(chart: alt.LayerChart) -> None:
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rule", "point"]
    rows = next(iter(spec["datasets"].values()))
    assert [row["group"] for row in rows] == ["a", "b"]


def test_interval_chart_validates_its_table(summary: pd.DataFrame) -> None:
    kwargs = {"category": "group", "estimate": "mean", "low": "lo", "high": "hi"}
    with pytest.raises(ValueError, match="lacks column"):
        viz.interval_chart(summary.drop(columns="hi"), **kwargs)
    with pytest.raises(ValueError, match="empty"):
        viz.interval_chart(summary.iloc[:0], **kwargs)
    bad = summary.assign(lo=[0.0, 0.45])
    with pytest.raises(ValueError, match="lo <= mean <= hi"):
        viz.interval_chart(bad, **kwargs)
    with pytest.raises(ValueError, match="DataFrame"):
        viz.interval_chart(summary.to_dict(), **kwargs)


def test_spec_vl_version_reads_the_schema() -> None:
    assert offline.spec_vl_version({"$schema": alt.SCHEMA_URL}) == "6.4"
    with pytest.raises(ValueError, match=r"no Vega-Lite \$schema"):
        offline.spec_vl_version({"mark": "bar"})
    with pytest.raises(ValueError, match="not bundled"):
        offline.spec_vl_version({"$schema": "https://vega.github.io/schema/vega-lite/v1.0.0.json"})


def test_offline_html_inlines_the_spec_and_loads_nothing(chart: alt.LayerChart) -> None:
    spec = chart.to_dict()
    spec["title"] = "a </script> inside the data"
    html = offline.offline_html(spec, element_id="chart-1")
    assert 'id="chart-1"' in html
    assert html.count("</script>") == 1  # the spec's own "</script>" is escaped
    assert "src=" not in html and "http" not in html.replace(alt.SCHEMA_URL, "")
    payload = re.search(r"vegaEmbed\(el, (\{.*\}), (\{.*\})\)\n", html)
    assert payload is not None
    assert json.loads(payload.group(1).replace("<\\/", "</")) == spec
    assert json.loads(payload.group(2)) == offline.DEFAULT_EMBED_OPTIONS


def test_offline_html_rejects_bad_ids_and_specs(chart: alt.LayerChart) -> None:
    with pytest.raises(ValueError, match="element_id"):
        offline.offline_html(chart.to_dict(), element_id="1 bad id")
    with pytest.raises(ValueError, match="non-empty"):
        offline.offline_html({}, element_id="ok")


def test_static_png_and_save_static(chart: alt.LayerChart, tmp_path: Path) -> None:
    png = offline.static_png(chart.to_dict(), scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert viz.save_static(chart, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    svg = viz.save_static(chart.to_dict(), tmp_path / "c.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg")
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        viz.save_static(chart, tmp_path / "c.pdf")
    with pytest.raises(ValueError, match="scale"):
        offline.static_png(chart.to_dict(), scale=0)


def test_bundle_defines_vega_embed_and_is_cached() -> None:
    path = viz.bundle_path()
    text = path.read_text(encoding="utf-8")
    assert path.name == viz.BUNDLE_NAME
    assert "window.vegaEmbed=" in text and "window.vegaLite=" in text
    assert text.rstrip().endswith("})();")
    mtime = path.stat().st_mtime_ns
    assert viz.bundle_path() == path and path.stat().st_mtime_ns == mtime


def test_sphinx_extension_serves_the_bundle() -> None:
    added: list[str] = []
    app = SimpleNamespace(add_js_file=added.append)
    config = SimpleNamespace(html_static_path=["_static"])
    sphinx._add_bundle(app, config)
    assert added == [viz.BUNDLE_NAME]
    assert config.html_static_path[0] == "_static"
    assert (Path(config.html_static_path[1]) / viz.BUNDLE_NAME).is_file()


def test_unique_scripts_drops_repeated_inline_and_file_scripts() -> None:
    def script(filename, **attributes):
        return SimpleNamespace(filename=filename, attributes=attributes)

    scripts = [
        script(None, body="const A = 1"),
        script("_static/x.js"),
        script("", body="const A = 1"),
        script("_static/x.js"),
        script("_static/x.js", defer="defer"),
    ]
    kept = sphinx.unique_scripts(scripts)
    assert kept == [scripts[0], scripts[1], scripts[4]]
