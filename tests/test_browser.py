"""A real browser opens the built book from local files, with every network name unresolvable.

The book is the session's ci build (``ci_book`` in tests/conftest.py). Headless Chromium and
chromedriver must be on PATH: ``make test`` installs them where it can (root with apt-get). Without
them the tests are skipped with what to install, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

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


@pytest.mark.slow
@pytest.mark.browser
def test_formulas_are_typeset_offline(browser, ci_book: BookBuild) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert ci_book.returncode == 0, ci_book.output[-5000:]
    browser.get((ci_book.html / "book" / "methods" / "eat.html").as_uri())
    typeset = ".MathJax, .MathJax_Display"
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, typeset))
    raw_tex = browser.execute_script(
        "return Array.from(document.querySelectorAll('.math'))"
        ".filter(e => e.textContent.trim().startsWith('\\\\(')).length;")
    assert raw_tex == 0  # every inline formula was replaced by MathJax output
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
