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
from clipbias.viz import render, tables, theme

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
    payload = re.search(r"var spec = (\{.*\}), options = (\{.*\});\n", html)
    assert payload is not None
    assert json.loads(payload.group(1).replace("<\\/", "</")) == spec
    assert json.loads(payload.group(2)) == offline.DEFAULT_EMBED_OPTIONS
    assert "window.vegaEmbed(el, spec, options).then(wrap)" in html
    assert "window.clipbiasWrap" in html  # narrow screens: panels wrap (clipbias-book.js)


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


def test_sphinx_extension_serves_the_bundle_and_the_book_static_files() -> None:
    scripts: list[str] = []
    styles: list[str] = []
    app = SimpleNamespace(add_js_file=scripts.append, add_css_file=styles.append)
    config = SimpleNamespace(html_static_path=["_static"])
    sphinx._add_static(app, config)
    assert scripts == [offline.BUNDLE_NAME, sphinx.BOOK_JS] and styles == [sphinx.BOOK_CSS]
    assert config.html_static_path[0] == "_static"
    assert (Path(config.html_static_path[1]) / offline.BUNDLE_NAME).is_file()
    static = Path(config.html_static_path[2])
    assert "window.clipbiasWrap" in (static / sphinx.BOOK_JS).read_text(encoding="utf-8")
    css = (static / sphinx.BOOK_CSS).read_text(encoding="utf-8")
    assert 'mjx-container[jax="SVG"][display="true"]' in css and "overflow-x: auto" in css


def test_sphinx_extension_serves_mathjax_3_svg_offline() -> None:
    config = SimpleNamespace(html_static_path=[])
    sphinx._add_mathjax(SimpleNamespace(), config)
    script = Path(config.html_static_path[0]) / config.mathjax_path
    assert config.mathjax_path == f"mathjax/{sphinx.MATHJAX_SCRIPT}" and script.is_file()
    text = script.read_text(encoding="utf-8", errors="replace")
    assert "output/svg" in text and "mjx-container" in text  # the SVG output is in the component
    assert config.mathjax2_config is None
    assert config.mathjax3_config["options"]["enableMenu"] is False
    assert "math" in config.mathjax3_config["options"]["processHtmlClass"].split("|")


@pytest.mark.parametrize("url", ["https://github.com/o/r", ""])
def test_repository_url_is_one_setting_that_shows_or_hides_the_buttons(url: str) -> None:
    options = {"repository_url": url, "launch_buttons": {"binderhub_url": "https://b"},
               "use_repository_button": False}
    sphinx._repository_buttons(SimpleNamespace(), SimpleNamespace(html_theme_options=options))
    assert options["use_repository_button"] is bool(url)
    assert ("launch_buttons" in options) is bool(url)


def test_launch_urls_open_the_source_notebook() -> None:
    binder = ("https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/"
              "book/executed/model_zoo.ipynb")
    assert sphinx.source_launch_url(binder, "book/executed/model_zoo") == (
        "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/model_zoo.md")
    colab = "https://colab.research.google.com/github/o/r/blob/main/book/executed/model_zoo.ipynb"
    assert sphinx.source_launch_url(colab, "book/executed/model_zoo") is None
    assert sphinx.source_launch_url(binder, "book/intro") == binder
    buttons = [{"type": "group", "buttons": [{"url": binder}, {"url": colab}]}]
    context = {"header_buttons": buttons}
    sphinx._launch_sources(None, "book/executed/model_zoo", "", context, None)
    (group,) = context["header_buttons"]
    assert [b["url"] for b in group["buttons"]] == [
        "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/model_zoo.md"]


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


# --- the table formatter -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (8000.0, "8,000"), (3, "3"), (2e9, "2 billion"), (1.28e7, "12.8 million"),
    (-2.5e6, "−2.5 million"), (0.951234, "0.951"), (-0.5, "−0.5"), (123456.789, "123,457"),
    (1e-6, "1.00×10⁻⁶"), (float("nan"), tables.MISSING), (None, tables.MISSING),
    (True, "yes"), (np.bool_(False), "no"), (float("-inf"), "−∞"),
])
def test_format_number_shows_sensible_digits(value, text: str) -> None:
    assert tables.format_number(value) == text


def _parse(cell: str) -> float:
    """The number a formatted cell shows (the slow, obvious reading of its text)."""
    cell = cell.replace(",", "").replace("−", "-")
    for word, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if cell.endswith(word):
            return float(cell.removesuffix(word)) * scale
    if "×10" in cell:
        mantissa, exponent = cell.split("×10")
        digits = exponent.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-"))
        return float(mantissa) * 10.0 ** int(digits)
    return float(cell)


def _last_place(cell: str) -> float:
    """The unit of the last digit a formatted cell shows."""
    cell = cell.replace(",", "").replace("−", "")
    scale = 1.0
    for word, factor in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if cell.endswith(word):
            cell, scale = cell.removesuffix(word).strip(), factor
    if "×10" in cell:
        mantissa, exponent = cell.split("×10")
        scale = 10.0 ** int(exponent.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")))
        cell = mantissa
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    return scale * 10.0 ** -decimals


@pytest.mark.parametrize("seed", range(6))
def test_formatted_numbers_keep_the_value_to_the_shown_precision(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-3, 5)
    values = np.concatenate([rng.normal(0, scale, size=40), [scale * 1e-5, -scale * 3e3]])
    cells = viz.format_table(pd.DataFrame({"v": values})).cells["v"].tolist()
    for value, cell in zip(values, cells, strict=True):
        assert abs(_parse(cell) - value) <= 0.5 * _last_place(cell) * (1 + 1e-9), (value, cell)
    # values of one magnitude: one number of decimal places, 3 significant digits at the top
    same = rng.uniform(1, 9.9, size=30) * scale * rng.choice([-1, 1], size=30)
    cells = viz.format_table(pd.DataFrame({"v": same})).cells["v"].tolist()
    assert len({_last_place(c) for c in cells}) == 1
    top = cells[int(np.abs(same).argmax())]
    assert sum(ch.isdigit() for ch in top.lstrip("−0.").replace(",", "")) >= 3 or "illion" in top


def test_format_table_whole_floats_are_integers_and_tiny_values_keep_digits() -> None:
    table = pd.DataFrame({"size": [8000.0, 2e9, np.nan], "p": [0.5, 1e-7, 0.02]})
    cells = viz.format_table(table).cells
    assert cells["size"].tolist() == ["8,000", "2 billion", tables.MISSING]
    assert cells["p"].tolist() == ["0.5", "1.00×10⁻⁷", "0.02"]  # no "0.000" for a p-value
    exact = viz.format_table(pd.DataFrame({"noise": [0.1, 0.5, 0.0]})).cells["noise"].tolist()
    assert exact == ["0.1", "0.5", "0.0"]  # no trailing zeros every value shares


def test_format_table_has_no_index_and_keeps_a_named_one() -> None:
    plain = pd.DataFrame({"a": [1, 2]}, index=[10, 11])
    shown = viz.format_table(plain)
    assert list(shown.cells.columns) == ["a"] and ">10</td>" not in shown.html
    named = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="model"))
    assert list(viz.format_table(named).cells.columns) == ["model", "a"]
    wide = pd.DataFrame({"m": ["p", "q"], "t": ["u", "v"], "x": [1.0, 2.0]}).pivot_table(
        index="m", columns="t", values="x")
    assert list(viz.format_table(wide).cells.columns) == ["m", "u", "v"]


def test_format_table_subsets_labels_units_percent() -> None:
    table = pd.DataFrame({"model": ["a", "b"], "acc": [0.9512, 0.5], "size": [10.0, 20.0],
                          "junk": [1, 2]})
    shown = viz.format_table(table, columns=["size", "model", "acc"], labels={"size": "images"},
                             units={"size": "count"}, percent=["acc"])
    assert list(shown.cells.columns) == ["images", "model", "acc"]
    assert shown.cells["acc"].tolist() == ["95.1", "50.0"]
    assert "junk" not in shown.html
    assert '<span class="cb-unit">(count)</span>' in shown.html
    assert 'data-label="acc (%)"' in shown.html and 'data-label="images (count)"' in shown.html
    assert shown.html.count('<td class="cb-num"') == 4  # size and acc right-aligned, text not
    assert shown.html.count("<tr>") == 3 and shown._repr_html_() == shown.html


def test_format_table_text_wraps_escapes_and_shows_structures() -> None:
    table = pd.DataFrame({"rule": ["a <b> & c " * 20, None],
                          "info": [{"seed": 0, "n": 8000.0}, ["x", "y"]]}).astype(object)
    shown = viz.format_table(table)
    assert "&lt;b&gt; &amp; c" in shown.html and "<b>" not in shown.html
    assert shown.cells["rule"].tolist()[0] == "a <b> & c " * 20
    assert "…" not in shown.html and "..." not in shown.html  # nothing is cut
    assert shown.cells["info"].tolist() == ["seed: 0; n: 8,000", "x, y"]
    assert shown.cells["rule"].tolist()[1] == tables.MISSING
    assert "white-space:normal" in shown.html  # text cells wrap


def test_format_table_mapping_rows_and_narrow_cards() -> None:
    shown = viz.format_table({"models": 131, "share": 0.25}, labels={"name": "what"})
    assert shown.cells.to_dict("list") == {"what": ["models", "share"], "value": ["131", "0.25"]}
    long = viz.format_table(pd.DataFrame({"i": range(10)}), max_rows=3)
    assert "First 3 of 10 rows." in long.html and len(long.cells) == 3
    assert "@container" in long.html and "td::before" in long.html  # cards when too narrow
    assert "(no rows)" in viz.format_table(pd.DataFrame({"i": []})).html


def test_format_table_rejects_bad_options() -> None:
    table = pd.DataFrame({"a": [1.0], "b": ["x"]})
    with pytest.raises(ValueError, match=r"columns names column\(s\) \['c'\]"):
        viz.format_table(table, columns=["a", "c"])
    with pytest.raises(ValueError, match="units names"):
        viz.format_table(table, columns=["a"], units={"b": "m"})
    with pytest.raises(ValueError, match="percent column 'b' must hold numbers"):
        viz.format_table(table, percent=["b"])
    with pytest.raises(ValueError, match="digits"):
        viz.format_table(table, digits=0)
    with pytest.raises(ValueError, match="decimals"):
        viz.format_table(table, decimals={"a": -1})
    with pytest.raises(ValueError, match="Series"):
        viz.format_table(pd.Series([1.0]))
    with pytest.raises(ValueError, match="twice"):
        viz.format_table(table, columns=["a", "a"])


def test_format_table_fixed_decimals() -> None:
    shown = viz.format_table(pd.DataFrame({"a": [0.5, 0.25, 2.0]}), decimals={"a": 2})
    assert shown.cells["a"].tolist() == ["0.50", "0.25", "2.00"]


# --- dot chart and model labels ----------------------------------------------------------------


def test_model_labels_show_the_seed_only_where_it_separates_models() -> None:
    ids = ["synthetic-vit-s/skew-l_s0", "synthetic-vit-s/skew-l_s1", "synthetic-rn-s/fair-s_s0",
           "ViT-B-32/openai"]
    assert viz.model_labels(ids) == ["synthetic-vit-s/skew-l (seed 0)",
                                     "synthetic-vit-s/skew-l (seed 1)", "synthetic-rn-s/fair-s",
                                     "ViT-B-32/openai"]


def test_dot_chart_fits_its_axis_sorts_and_orders_the_legend() -> None:
    table = pd.DataFrame({"model": ["a", "b", "c"], "acc": [0.95, 0.99, 0.97],
                          "family": ["skew", "fair", "web"]})
    spec = viz.dot_chart(table, category="model", value="acc", color="family",
                         color_order=["fair", "web", "skew"]).to_dict()
    (points,) = spec["layer"]
    assert points["mark"]["type"] == "point"
    assert points["encoding"]["x"]["scale"]["zero"] is False
    assert points["encoding"]["y"]["sort"] == "-x"
    assert points["encoding"]["color"]["scale"]["domain"] == ["fair", "web", "skew"]
    with_interval = viz.dot_chart(table.assign(lo=table["acc"] - 0.01, hi=table["acc"] + 0.01),
                                  category="model", value="acc", low="lo", high="hi").to_dict()
    assert [layer["mark"]["type"] for layer in with_interval["layer"]] == ["rule", "point"]


def test_dot_chart_validates_its_input() -> None:
    table = pd.DataFrame({"model": ["a", "b"], "acc": [0.9, 0.8], "family": ["x", "y"]})
    with pytest.raises(ValueError, match="both low and high"):
        viz.dot_chart(table, category="model", value="acc", low="acc")
    with pytest.raises(ValueError, match=r"lacks the level\(s\) \['y'\]"):
        viz.dot_chart(table, category="model", value="acc", color="family", color_order=["x"])
    with pytest.raises(ValueError, match="once"):
        viz.dot_chart(pd.concat([table, table]), category="model", value="acc")
    with pytest.raises(ValueError, match="<="):
        viz.dot_chart(table.assign(lo=1.0, hi=2.0), category="model", value="acc", low="lo",
                      high="hi")


def test_theme_keeps_tick_labels_apart_and_legends_below() -> None:
    config = theme.theme_config()["config"]
    assert config["axis"]["labelOverlap"] and config["axis"]["labelSeparation"] > 0
    assert config["legend"]["orient"] == "bottom"


@pytest.mark.parametrize("facet", [False, True])
def test_theme_gives_the_x_axis_ticks_in_plain_and_faceted_charts(facet: bool) -> None:
    """Rendered to SVG, the x axis of a 400 px wide chart carries several ticks, also when the
    chart is faceted (a theme tick count over the top-level ``width`` signal gave none there)."""
    import re

    import vl_convert

    data = pd.DataFrame({"x": np.linspace(0, 1, 10), "y": np.arange(10.0), "f": ["a", "b"] * 5})
    chart = alt.Chart(data).mark_line().encode(x="x:Q", y="y:Q").properties(width=400)
    if facet:
        chart = chart.facet(row="f:N")
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    axes = re.findall(r'aria-label="X-axis.*?role-axis-label', svg, re.S)
    assert axes, "no x axis in the SVG"
    for axis in axes:
        assert axis.count("<line") >= 4, axis[:300]



# --- the generated chapter table (landing and teaching pages) ----------------------------------


def test_chapter_table_lists_the_toc_studies_from_their_files() -> None:
    from clipbias.publish import pages
    from clipbias.publish.toc import toc_notebooks

    rows = pages.chapter_rows(ROOT)
    assert [r.stem for r in rows] == [nb.stem for nb in toc_notebooks(ROOT)]
    for row in rows:
        source = (ROOT / "notebooks" / f"{row.stem}.md").read_text(encoding="utf-8")
        assert f"**Data source: {row.data_source}" in " ".join(source.split())
        assert row.budgets["ci"] > 0
    text = pages.chapter_table_markdown(ROOT)
    assert text.count("\n") == len(rows) + 1  # header, rule, one line per chapter
    assert all(f"{{doc}}`/{row.docname}`" in text for row in rows)


def test_chapter_table_refuses_a_chapter_without_a_data_source(tmp_path: Path) -> None:
    from clipbias.publish import pages

    (tmp_path / "notebooks" / "profiles").mkdir(parents=True)
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/executed/demo\n",
        encoding="utf-8")
    (tmp_path / "notebooks" / "demo.md").write_text("# Demo\n\nNo source line.\n",
                                                     encoding="utf-8")
    (tmp_path / "notebooks" / "profiles" / "full.yaml").write_text("demo: {device: auto}\n",
                                                                   encoding="utf-8")
    (tmp_path / "notebooks" / "budgets.yaml").write_text(
        "chapters:\n  demo: {ci: 60, embedded: 120}\nbuild: {ci: 10}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Data source"):
        pages.chapter_rows(tmp_path)
    (tmp_path / "notebooks" / "demo.md").write_text(
        "# Demo\n\n**Data source: synthetic, tiny.** More.\n", encoding="utf-8")
    (row,) = pages.chapter_rows(tmp_path)
    assert (row.data_source, row.full_device, row.budgets) == (
        "synthetic, tiny", "auto", {"ci": 60.0, "embedded": 120.0})
    assert "| 1.0 min | 2.0 min | `auto` (a GPU when one is found) |" in (
        pages.chapter_table_markdown(tmp_path))


def test_format_table_lets_number_headers_wrap_but_not_numbers() -> None:
    """The width estimate breaks multi-word headers into words, so the CSS must let a number
    column's header wrap while its cells stay on one line."""
    page = viz.format_table(pd.DataFrame({"mean effect size d": [0.25, 1.5]}))._repr_html_()
    assert "td.cb-num{white-space:nowrap}" in page
    assert not re.search(r"\.cb-table \.cb-num\{[^}]*nowrap", page)
