"""Unit tests of clipbias.viz: theme, renderer, chart builders, gallery, offline HTML and images."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace

import altair as alt
import numpy as np
import pandas as pd
import pytest

import clipbias.viz as viz
from clipbias.data.synthetic import WorldConfig, generate_world
from clipbias.publish import offline, sphinx
from clipbias.viz import render, theme

ROOT = Path(__file__).resolve().parents[1]


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
    bundle, _ = render.book_renderer(chart.to_dict())
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
    assert render.spec_vl_version({"$schema": alt.SCHEMA_URL}) == "6.4"
    with pytest.raises(ValueError, match=r"no Vega-Lite \$schema"):
        render.spec_vl_version({"mark": "bar"})
    with pytest.raises(ValueError, match="not bundled"):
        render.spec_vl_version({"$schema": "https://vega.github.io/schema/vega-lite/v1.0.0.json"})


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
    png = render.static_png(chart.to_dict(), scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert viz.save_static(chart, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    svg = viz.save_static(chart.to_dict(), tmp_path / "c.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg")
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        viz.save_static(chart, tmp_path / "c.pdf")
    with pytest.raises(ValueError, match="scale"):
        render.static_png(chart.to_dict(), scale=0)


def test_bundle_defines_vega_embed_and_is_cached() -> None:
    path = offline.bundle_path()
    text = path.read_text(encoding="utf-8")
    assert path.name == offline.BUNDLE_NAME
    assert "window.vegaEmbed=" in text and "window.vegaLite=" in text
    assert text.rstrip().endswith("})();")
    mtime = path.stat().st_mtime_ns
    assert offline.bundle_path() == path and path.stat().st_mtime_ns == mtime


def test_sphinx_extension_serves_the_bundle() -> None:
    added: list[str] = []
    app = SimpleNamespace(add_js_file=added.append)
    config = SimpleNamespace(html_static_path=["_static"])
    sphinx._add_bundle(app, config)
    assert added == [offline.BUNDLE_NAME]
    assert config.html_static_path[0] == "_static"
    assert (Path(config.html_static_path[1]) / offline.BUNDLE_NAME).is_file()


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


# --- chart builders --------------------------------------------------------------------------


def _rows(chart: alt.TopLevelMixin) -> list[dict]:
    """The data rows of a chart built from one DataFrame."""
    datasets = chart.to_dict()["datasets"]
    assert len(datasets) == 1
    return next(iter(datasets.values()))


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.md")),
                         ids=lambda path: path.stem)
def test_notebooks_draw_charts_only_through_builders(notebook: Path) -> None:
    assert "alt.Chart(" not in notebook.read_text(encoding="utf-8"), (
        f"{notebook.name} builds a chart inline; add a builder to clipbias.viz and call it")


@pytest.fixture
def models() -> pd.DataFrame:
    return pd.DataFrame({"arch": ["ViT", "ViT", "ViT", "ResNet", "ConvNeXt"],
                         "data": ["laion", "laion", "openai", "openai", "laion"],
                         "size": [1, 2, 3, 4, 5]})


def test_coverage_heatmap_counts_every_cell_zeros_included(models: pd.DataFrame) -> None:
    chart = viz.coverage_heatmap(models, x="data", y="arch", title="t", count_title="models")
    got = {(row["data"], row["arch"]): row["count"] for row in _rows(chart)}
    # slow reference: count by hand over every pair of observed levels
    expected = {(d, a): sum(1 for _, m in models.iterrows() if (m["data"], m["arch"]) == (d, a))
                for d in set(models["data"]) for a in set(models["arch"])}
    assert got == expected
    assert got[("openai", "ConvNeXt")] == 0 and got[("laion", "ViT")] == 2
    assert sum(got.values()) == len(models)


def test_coverage_heatmap_encodes_cells_colour_and_labels(models: pd.DataFrame) -> None:
    spec = viz.coverage_heatmap(models, x="data", y="arch", x_title="dataset",
                                count_title="models").to_dict()
    cells, labels = spec["layer"]
    assert cells["mark"]["type"] == "rect" and labels["mark"]["type"] == "text"
    enc = cells["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"], enc["x"]["title"]) == ("data", "nominal", "dataset")
    assert (enc["y"]["field"], enc["y"]["title"]) == ("arch", "arch")
    assert enc["color"]["field"] == "count" and enc["color"]["title"] == "models"
    assert enc["color"]["condition"]["test"] == "(datum['count'] === 0)"  # empty cells grey
    assert labels["encoding"]["text"]["field"] == "count"
    assert labels["transform"] == [{"filter": "(datum['count'] > 0)"}]  # no "0" printed


def test_coverage_heatmap_validates_its_input(models: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['family'\]"):
        viz.coverage_heatmap(models, x="family", y="arch")
    with pytest.raises(ValueError, match="two different columns"):
        viz.coverage_heatmap(models, x="arch", y="arch")
    with pytest.raises(ValueError, match="missing values"):
        viz.coverage_heatmap(models.assign(data=[None, "a", "b", "c", "d"]), x="data", y="arch")
    with pytest.raises(ValueError, match="cannot be an axis"):
        viz.coverage_heatmap(models.rename(columns={"data": "count"}), x="count", y="arch")
    with pytest.raises(ValueError, match="empty"):
        viz.coverage_heatmap(models.iloc[:0], x="data", y="arch")


def test_coverage_heatmap_sorts_mixed_levels_as_text() -> None:
    table = pd.DataFrame({"x": [1, "b", 1], "y": ["u", "u", "v"]})
    rows = _rows(viz.coverage_heatmap(table, x="x", y="y"))
    assert [(r["x"], r["y"], r["count"]) for r in rows] == [
        (1, "u", 1), (1, "v", 1), ("b", "u", 1), ("b", "v", 0)]


# --- the synthetic-world gallery -------------------------------------------------------------


@pytest.fixture(scope="module")
def world():
    return generate_world(WorldConfig(size=600), seed=0)


def test_sample_gallery_rows_are_png_data_urls_with_captions(world) -> None:
    g = viz.sample_gallery(world, n=6, columns=3, scale=2)
    assert list(g["row"]) == [0, 0, 0, 1, 1, 1] and list(g["col"]) == [0, 1, 2, 0, 1, 2]
    assert g["url"].str.startswith("data:image/png;base64,").all()
    assert list(g["caption"]) == world.captions()[:6]
    assert list(g.columns) == ["row", "col", "url", *viz.gallery.SCENE_COLUMNS]
    with pytest.raises(ValueError, match="n must be"):
        viz.sample_gallery(world, n=0)
    with pytest.raises(ValueError, match="columns must be"):
        viz.sample_gallery(world, columns=0)


def test_sample_gallery_images_are_the_scenes_upscaled(world) -> None:
    import base64
    import io

    from PIL import Image

    url = viz.sample_gallery(world, n=2, columns=2, scale=3)["url"][1]
    png = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    pixels = np.asarray(png.convert("RGB"))
    assert pixels.shape == (3 * world.images.shape[1], 3 * world.images.shape[2], 3)
    assert np.array_equal(pixels[::3, ::3], world.images[1])  # nearest-neighbour upscaling


def test_scene_gallery_chart_places_each_image_in_its_cell(world) -> None:
    gallery = viz.sample_gallery(world, n=6, columns=3, scale=1)
    chart = viz.scene_gallery_chart(gallery, tile=40, gap=10, title="six scenes")
    spec = chart.to_dict()
    assert spec["mark"] == {"type": "image", "width": 40, "height": 40}
    enc = spec["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"], enc["x"]["axis"]) == ("col", "ordinal", None)
    assert (enc["y"]["field"], enc["y"]["type"]) == ("row", "ordinal")
    assert enc["url"]["field"] == "url"
    assert [t["field"] for t in enc["tooltip"]] == list(viz.gallery.SCENE_COLUMNS)
    assert spec["width"] == {"step": 50} and spec["height"] == {"step": 50}
    assert spec["title"] == "six scenes"
    rows = _rows(chart)
    assert [(r["row"], r["col"], r["url"]) for r in rows] == list(
        zip(gallery["row"], gallery["col"], gallery["url"], strict=True))


def test_scene_gallery_chart_validates_its_table(world) -> None:
    gallery = viz.sample_gallery(world, n=4, columns=2, scale=1)
    with pytest.raises(ValueError, match=r"gallery lacks column\(s\) \['caption'\]"):
        viz.scene_gallery_chart(gallery.drop(columns="caption"))
    with pytest.raises(ValueError, match="share a grid position"):
        viz.scene_gallery_chart(gallery.assign(row=0, col=0))
    with pytest.raises(ValueError, match="integers >= 0"):
        viz.scene_gallery_chart(gallery.assign(row=-1))
    with pytest.raises(ValueError, match="image URLs"):
        viz.scene_gallery_chart(gallery.assign(url=""))
    with pytest.raises(ValueError, match="tile must be"):
        viz.scene_gallery_chart(gallery, tile=0)
    assert viz.scene_gallery_chart(gallery[["row", "col", "url"]], tooltip=()).to_dict()


def test_knobs_table_reads_each_description_from_field_metadata() -> None:
    table = viz.knobs_table(WorldConfig(association=0.3))
    fields = dataclasses.fields(WorldConfig)
    assert list(table.columns) == ["knob", "value", "meaning"]
    assert list(table["knob"]) == [f.name for f in fields]
    assert list(table["meaning"]) == [f.metadata["doc"] for f in fields]
    assert table.set_index("knob").loc["association", "value"] == 0.3
    assert (table["meaning"].str.len() > 0).all()
    values = list(viz.knobs_table()["value"])
    assert values == [f.default for f in fields]
    assert [type(v) for v in values] == [type(f.default) for f in fields]  # 8000 is not 8000.0
    with pytest.raises(ValueError, match="must be a WorldConfig"):
        viz.knobs_table({"association": 0.3})


def test_knobs_table_names_a_knob_without_a_description(monkeypatch) -> None:
    from clipbias.viz import gallery

    @dataclasses.dataclass(frozen=True)
    class Undocumented(WorldConfig):
        extra: int = 1

    monkeypatch.setattr(gallery, "WorldConfig", Undocumented)
    with pytest.raises(ValueError, match=r"WorldConfig\.extra has no description"):
        gallery.knobs_table(Undocumented())
