"""A report read as a reader reads it: opened from disk in real headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skipped with the
reason when any is missing. Set ``REPORT_SCREENSHOT=/some/file.png`` to keep a copy of the
leaderboard screenshot (it is always saved under the test's tmp folder).
"""

from __future__ import annotations

import base64
import os
import shutil

import pytest

from benchmark.metrics import METRICS
from benchmark.report import build_report
from tests.report.test_report import NOT_APPLICABLE, QUALITY, SUITE, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# The fixture's suite means of minority PR-AUC, best first (see PR_AUC and OFFSET in test_report).
BY_PR_AUC = ["baseline", "smote", "class-weighted-ce", "random-oversampling", "focal-loss", "old-plugin"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless Chromium is not installed: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install selenium")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for a browser online
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", "--hide-scrollbars",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-store') / 'results.db'}"
    return build_report(write_run(url), SUITE, tmp_path_factory.mktemp("browser-reports"))


def leaderboard_rows(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [tr.get_attribute("data-method")
            for tr in driver.find_elements(By.CSS_SELECTOR, "#suite-leaderboard tbody tr") if tr.is_displayed()]


def header(driver, label: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//table[@id='suite-leaderboard']//th[normalize-space()='{label}']")


def test_leaderboard_in_chromium_shows_every_method_sorts_filters_and_screenshots(browser, report, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(report.index.as_uri())
    assert browser.title.startswith(f"{SUITE}:")
    initial = leaderboard_rows(browser)
    assert sorted(initial) == sorted(QUALITY)
    assert initial[0] == "random-oversampling"  # default order: the tuning objective, minority F1
    for label in ("Minority recall", "Minority F1", "Minority PR-AUC"):
        th = header(browser, label)
        assert th.is_displayed() and th.size["width"] > 40
        assert th.get_attribute("title") == METRICS[label.lower().replace(" ", "_").replace("-", "_")].tooltip
    # Each method row shows figures in the three headline columns (a method without one says why).
    cells = browser.find_elements(By.CSS_SELECTOR, "#suite-leaderboard tbody tr td:nth-child(4)")
    assert all(c.text.strip() for c in cells)

    header(browser, "Minority PR-AUC").click()
    assert leaderboard_rows(browser) == BY_PR_AUC != initial
    assert header(browser, "Minority PR-AUC").get_attribute("aria-sort") == "descending"
    path = tmp_path / "leaderboard.png"
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 20_000
    if os.environ.get("REPORT_SCREENSHOT"):
        shutil.copyfile(path, os.environ["REPORT_SCREENSHOT"])
    full = browser.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "format": "png"})
    (tmp_path / "index-full.png").write_bytes(base64.b64decode(full["data"]))

    header(browser, "Minority PR-AUC").click()
    assert leaderboard_rows(browser) == BY_PR_AUC[::-1]

    # Filtering by family hides the over-sampling rows everywhere and says how many are shown.
    browser.find_element(By.CSS_SELECTOR, "input.family-filter[value='over-sampling']").click()
    shown = leaderboard_rows(browser)
    assert "smote" not in shown and "random-oversampling" not in shown and len(shown) == 4
    assert browser.find_element(By.CSS_SELECTOR, ".filter-count").text == "showing 4 of 6 methods"

    # The critical-difference diagrams are drawn, as inline SVG.
    diagrams = browser.find_elements(By.CSS_SELECTOR, "figure[data-figure='cd-diagram'] svg")
    assert len(diagrams) == 3 and all(d.is_displayed() and d.size["width"] > 300 for d in diagrams)


def test_dataset_page_in_chromium_shows_statuses_with_reasons_and_figures(browser, report):
    from selenium.webdriver.common.by import By

    browser.get((report.folder / "datasets" / "sms-spam-mini.html").as_uri())
    # A method that does not apply is a line under the leaderboard with its reason, not a row of empty cells.
    assert not browser.find_elements(By.CSS_SELECTOR, "#dataset-leaderboard tr[data-method='smote']")
    item = browser.find_element(By.CSS_SELECTOR, "#not-applicable li")
    assert item.is_displayed() and item.text == NOT_APPLICABLE[2].removeprefix("smote ") + " (1): smote"
    browser.get((report.folder / "datasets" / "digits-lt.html").as_uri())
    for figure in ("heatmap", "pr-curves", "tuning-history"):
        svg = browser.find_element(By.CSS_SELECTOR, f"figure[data-figure='{figure}'] svg")
        assert svg.is_displayed() and svg.size["height"] > 100, figure
    images = browser.find_elements(By.CSS_SELECTOR, "[data-figure='generated-samples'] img")
    assert len(images) == 2 and all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
    browser.find_element(By.LINK_TEXT, "← suite smoke").click()
    assert browser.current_url.endswith("/index.html")
