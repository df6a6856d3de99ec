"""A real browser opens the built book from local files, with every network name unresolvable.

The book is the session's ci build (``ci_book`` in tests/conftest.py). Headless Chromium and
chromedriver must be on PATH: ``make test`` installs them where it can (root with apt-get). Without
them the tests are skipped with what to install, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from conftest import BookBuild

ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = (
    "headless Chromium is missing: install the packages chromium and chromium-driver "
    "(Debian/Ubuntu, as root: apt-get install -y chromium chromium-driver; `make browser-deps` "
    "does this when run as root) so that `chromium` and `chromedriver` are on PATH"
)
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
REQUIRED = os.environ.get("CI") == "true"
# Skipped before any fixture runs (the book build is not paid for a test that cannot run).
pytestmark = pytest.mark.skipif(
    (CHROMIUM is None or CHROMEDRIVER is None) and not REQUIRED, reason=INSTALL_HINT
)
SCREENSHOT = ROOT / "book" / "_build" / "pipeline_check.png"
CHART = ".clipbias-chart.vega-embed svg, .clipbias-chart.vega-embed canvas"
#: Window widths every page is checked at: a desktop and a phone.
WIDTHS = (1280, 400)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # no network: any request for a remote host fails (and would show up as a console error)
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--window-size=1280,1600",
)


@pytest.fixture
def browser():
    """Headless Chromium driven by chromedriver, with a fresh profile folder."""
    if CHROMIUM is None or CHROMEDRIVER is None:  # only reached with CI=true (see pytestmark)
        pytest.fail(f"CI=true requires the browser test: {INSTALL_HINT}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="clipbias-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def toc_pages(root: Path = ROOT) -> list[str]:
    """Every page of the book (``root`` and each ``file`` of ``_toc.yml``), in order."""
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file") and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return [page.removesuffix(".ipynb").removesuffix(".md") for page in walk(toc)]


# Elements of the content column wider than the column: only scrollable math and code may be.
OVERFLOW_JS = """
const article = document.querySelector('article.bd-article') || document.querySelector('main');
const limit = Math.min(article.getBoundingClientRect().right, window.innerWidth) + 1;
const scrollable = 'mjx-container, div.math, div.highlight, pre';
const out = [];
if (document.documentElement.scrollWidth > window.innerWidth + 1) {
  out.push('page scrolls sideways: ' + document.documentElement.scrollWidth + ' px');
}
for (const el of article.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0 || r.right <= limit) continue;
  let excused = false;
  for (let a = el.parentElement; a && a !== article; a = a.parentElement) {
    const style = getComputedStyle(a);
    const fits = a.getBoundingClientRect().right <= limit;
    if (fits && ((['auto', 'scroll'].includes(style.overflowX) && a.matches(scrollable)) ||
                 style.overflowX === 'hidden' && !a.closest('.clipbias-chart'))) {
      excused = true; break;
    }
  }
  if (!excused && !el.closest('.clipbias-chart')) {
    out.push(el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
      ? '.' + String(el.className).trim().split(/\\s+/).join('.') : '') + ' +' +
      Math.round(r.right - limit) + ' px: ' + (el.textContent || '').trim().slice(0, 60));
  }
}
for (const chart of article.querySelectorAll('.clipbias-chart svg')) {
  const r = chart.getBoundingClientRect();
  if (r.right > limit) out.push('chart wider than the column by ' + Math.round(r.right - limit));
}
return out.slice(0, 10);
"""

MATHJAX_DONE_JS = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { done('no mathjax'); return; }
MathJax.startup.promise.then(() => done('ok'), (e) => done('error: ' + e));
"""

MATH_STATE_JS = """
const maths = Array.from(document.querySelectorAll('.math'));
return {
  math: maths.length,
  untypeset: maths.filter(e => !e.querySelector('mjx-container')).length,
  errors: document.querySelectorAll('mjx-merror, [data-mml-node="merror"]').length,
  fonts: document.querySelectorAll('mjx-container[jax="CHTML"]').length,
};
"""


def _set_width(browser, width: int) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1,
                             "mobile": False})


def _screenshot(browser, width: int, target: Path, *, tile: int = 4000,
                limit: int = 20000) -> None:
    """Save the whole page (at most ``limit`` pixels tall) as one PNG, captured in tiles: one
    capture of a very tall page comes back blank below a few million pixels."""
    from PIL import Image

    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})
    height = min(int(metrics["cssContentSize"]["height"]), limit)
    page = Image.new("RGB", (width, height), "white")
    for top in range(0, height, tile):
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top, "width": width, "height": min(tile, height - top),
                     "scale": 1}})
        page.paste(Image.open(io.BytesIO(base64.b64decode(shot["data"]))), (0, top))
    target.parent.mkdir(parents=True, exist_ok=True)
    page.save(target)


def check_page(browser, html: Path, page: str, width: int, shots: Path) -> list[str]:
    """Open ``page`` at ``width`` pixels, save a full-page screenshot under ``shots``, and return
    what is wrong with it (empty when nothing is)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    problems: list[str] = []
    _set_width(browser, width)
    browser.get((html / f"{page}.html").as_uri())
    browser.set_script_timeout(60)
    state = browser.execute_async_script(MATHJAX_DONE_JS)
    if state not in ("ok", "no mathjax"):
        problems.append(f"MathJax: {state}")
    charts = browser.find_elements(By.CSS_SELECTOR, ".clipbias-chart")
    if charts:
        try:
            WebDriverWait(browser, 60).until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, CHART)) >= len(charts))
        except TimeoutException:  # reported below, with the count
            pass
        drawn = browser.find_elements(By.CSS_SELECTOR, CHART)
        if len(drawn) < len(charts):
            problems.append(f"{len(charts) - len(drawn)} of {len(charts)} charts not drawn")
    math = browser.execute_script(MATH_STATE_JS)
    if math["untypeset"] or math["errors"] or math["fonts"]:
        problems.append(f"formulas: {math}")
    problems += [f"overflow: {o}" for o in browser.execute_script(OVERFLOW_JS)]
    _screenshot(browser, width, shots / f"{page.replace('/', '__')}-{width}.png")
    for entry in browser.get_log("browser"):
        message = entry["message"]
        if entry["level"] == "SEVERE" or "MathJax" in message or "font" in message.lower():
            problems.append(f"console {entry['level']}: {message[:200]}")
    return problems


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_reads_well_at_desktop_and_phone_width(browser, ci_book: BookBuild,
                                                          width: int) -> None:
    """Screenshots of every page into <build>/screenshots; no overflow of the content column
    outside scrollable math and code, every chart drawn, every formula typeset (SVG, no font
    files), no MathJax or font warning and no SEVERE console error."""
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    shots = ci_book.html.parent / "screenshots"
    failures = {}
    for page in toc_pages():
        problems = check_page(browser, ci_book.html, page, width, shots)
        if problems:
            failures[page] = problems
    assert failures == {}


@pytest.mark.slow
@pytest.mark.browser
def test_pipeline_check_chart_is_drawn_offline(browser, ci_book: BookBuild) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert ci_book.returncode == 0, ci_book.output[-5000:]
    page = ci_book.html / "book" / "executed" / "pipeline_check.html"
    browser.get(page.as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, CHART))
    drawn = browser.find_elements(By.CSS_SELECTOR, CHART)
    chart = browser.find_element(By.CSS_SELECTOR, ".clipbias-chart.vega-embed")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    assert drawn[0].size["width"] > 100 and drawn[0].size["height"] > 50
    marks = browser.find_elements(By.CSS_SELECTOR, ".clipbias-chart .mark-symbol path")
    assert len(marks) == 2  # one point per group


# The layout of one rendered formula: the bar of \bar s sits over the s, and variables are italic
# (MathJax 3 SVG draws each glyph as a path tagged with its code point, data-c).
BAR_JS = """
const out = [];
for (const mover of document.querySelectorAll('g[data-mml-node="mover"]')) {
  const [base, accent] = mover.children;
  if (!base || !accent) continue;
  const b = base.getBoundingClientRect(), a = accent.getBoundingClientRect();
  out.push({baseLeft: b.left, baseRight: b.right, baseTop: b.top,
            accentCenter: (a.left + a.right) / 2, accentBottom: a.bottom});
}
const italic = Array.from(document.querySelectorAll('g[data-mml-node="mi"] [data-c]'))
  .map(p => parseInt(p.getAttribute('data-c'), 16))
  .filter(c => c >= 0x1D434 && c <= 0x1D467).length;
return {bars: out, italic: italic};
"""


@pytest.mark.slow
@pytest.mark.browser
def test_formulas_are_typeset_with_real_glyphs_offline(browser, ci_book: BookBuild) -> None:
    from selenium.webdriver.common.by import By

    assert ci_book.returncode == 0, ci_book.output[-5000:]
    browser.get((ci_book.html / "book" / "methods" / "eat.html").as_uri())
    browser.set_script_timeout(60)
    assert browser.execute_async_script(MATHJAX_DONE_JS) == "ok"
    assert browser.find_elements(By.CSS_SELECTOR, 'mjx-container[jax="SVG"]')
    math = browser.execute_script(MATH_STATE_JS)
    assert math["math"] > 10 and math["untypeset"] == 0 and math["errors"] == 0
    layout = browser.execute_script(BAR_JS)
    assert layout["italic"] > 20  # single-letter variables are drawn in math italic
    assert layout["bars"], "the page has \\bar s"
    for bar in layout["bars"]:  # each accent is centred over its base and above it
        assert bar["baseLeft"] - 1 <= bar["accentCenter"] <= bar["baseRight"] + 1, bar
        assert bar["accentBottom"] <= bar["baseTop"] + 2, bar
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
