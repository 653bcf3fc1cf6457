"""The monitoring dashboard end to end (issue 17): the synthetic monitoring world entered
into the sandbox at a simulated clock, pulled over HTTP, the indicators, limits and
audit-trail review computed and the page written; then the page in a real headless
browser (Debian's chromium + chromedriver, Selenium from PyPI)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from sgbm_redcap.config import Settings
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.jobs.monitor import dashboard_from_source
from sgbm_redcap.sandbox import Sandbox, serve_in_thread
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.synthetic.monitoring import seed_monitoring
from sgbm_redcap.synthetic.seed import DEFAULT_PROJECT_DIR

XSS = '</script><script>window.__xss = 1;</script><img src=x onerror="window.__xss=2">'
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


class _NoLogSource:
    """A source whose user has no Logging right: its log is None (RedcapSource's answer
    to export_logging's 403)."""

    def __init__(self, inner: RedcapSource):
        self.inner = inner
        self.client = inner.client

    def tables(self):
        return self.inner.tables()

    def project_log(self, **kwargs):
        return None


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("dash")
    sandbox = Sandbox(out / "sandbox")
    w = seed_monitoring(sandbox, n=100)
    project = load_project(DEFAULT_PROJECT_DIR)
    # a site types a script into a query's free-text response
    row = {"record_id": "1", "redcap_repeat_instrument": "data_queries",
           "redcap_repeat_instance": "9", "dq_id": "xss:1", "dq_field": "ae_term",
           "dq_form": "adverse_events", "dq_instance": "1", "dq_status": "2",
           "dq_message": "Please check.", "dq_site_response": XSS,
           "dq_opened_date": str(w.ref - timedelta(days=4)),
           "dq_answered_date": str(w.ref - timedelta(days=2))}
    from sgbm_redcap.synthetic.monitoring import _post

    _post(sandbox, w.token, [row])
    with serve_in_thread(sandbox, port=0) as url:
        source = RedcapSource(url, w.token, cache_dir=False, progress=False,
                              settings=Settings(redcap_url=url))
        files = dashboard_from_source(source, project, out / "full", ref=w.ref, pdf=False)
        blind = dashboard_from_source(_NoLogSource(source), project, out / "nolog",
                                      ref=w.ref, pdf=False)
    return w, files, blind


def test_exactly_the_planted_site_problems_are_red(world):
    w, files, _ = world
    assert files.red == w.red()
    assert {kri for _, kri in w.red()} == {"days_to_answer", "ae_rate"}


def test_the_planted_retrospective_change_is_the_one_audit_finding(world):
    w, files, _ = world
    planted = [p for p in w.manifest if p.shows_as == "audit:after_query"]
    found = [f for f in files.findings if f.kind == "after_query"]
    assert [f.record for f in found] == [p.record for p in planted]
    assert "ia_rano_inv" in found[0].what and found[0].who
    assert not [f for f in files.findings if f.kind in ("many_changes", "deleted",
                                                        "outside_dag")]


def test_entry_lags_follow_each_sites_lag(world):
    w, files, _ = world
    html = files.paths[0].read_text(encoding="utf-8")
    data = _data(html)
    for site, lag in w.lags.items():
        assert data["cells"][f"{site}|entry_lag"]["detail"].startswith("median of")
        # the page's value for each site's lag is the lag it was entered with
        cell = re.search(rf'data-key="{site}\|entry_lag"[^>]*>([^<]*)<', html).group(1)
        assert int(cell) == lag


def _data(html: str) -> dict:
    return json.loads(re.search(r'id="dashboard-data">(.*?)</script>', html, re.S).group(1))


def test_the_page_is_self_contained_escaped_and_names_inactive_sites(world):
    _, files, _ = world
    html = files.paths[0].read_text(encoding="utf-8")
    assert files.paths[0].name.startswith("monitoring_")
    assert XSS not in html and "<img src=x" not in html
    assert "&lt;/script&gt;&lt;script&gt;" in html          # the table cell: escaped text
    assert "\\u003c/script\\u003e" in html                 # the inline JSON: escaped
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no network asset
    assert "not yet active" in html
    assert "site_patient_id" not in html


def test_without_logging_rights_the_rest_is_computed(world):
    _, full, blind = world
    assert any(line.startswith("Data-entry lag") and "not computed" in line
               for line in blind.not_computed)
    assert any(line.startswith("Audit-trail review: not computed") for line in
               blind.not_computed)
    assert blind.findings is None
    assert {r for r in full.red if r[1] != "entry_lag"} == blind.red
    html = blind.paths[0].read_text(encoding="utf-8")
    assert html.count('class="warning not-computed"') == 2


# ------------------------------------------------------------------ the browser

def _driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    if not (CHROMIUM.exists() or shutil.which("chromium")) or not (
            DRIVER.exists() or shutil.which("chromedriver")):
        pytest.skip("headless browser absent: install the Debian packages chromium and "
                    "chromium-driver (scripts/sysdeps.sh, run by make test)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(DRIVER if DRIVER.exists() else shutil.which("chromedriver")))
    return webdriver.Chrome(service=service, options=options)


@pytest.fixture(scope="module")
def browser(world):
    driver = _driver()
    driver.get(world[1].paths[0].as_uri())
    yield driver
    driver.quit()


def test_loads_without_console_errors_and_the_script_stays_text(browser):
    from selenium.webdriver.common.by import By

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert browser.execute_script("return window.__xss === undefined")
    responses = [td.get_attribute("textContent") for td in
                 browser.find_elements(By.CSS_SELECTOR, "td.response")]
    assert XSS in responses


def test_sorting_by_a_column(browser):
    from selenium.webdriver.common.by import By

    def column(i):
        return [r.find_elements(By.TAG_NAME, "td")[i].get_attribute("data-sort")
                for r in browser.find_elements(By.CSS_SELECTOR, "#kri-table tbody tr")]

    heads = browser.find_elements(By.CSS_SELECTOR, "#kri-table thead th")
    heads[1].click()                               # patients, ascending
    got = [float(x) for x in column(1)[:-1]]       # the All-sites row stays last
    assert got == sorted(got)
    heads[1].click()
    got = [float(x) for x in column(1)[:-1]]
    assert got == sorted(got, reverse=True)
    assert column(0)[-1] == "All sites"


def test_drill_down_shows_the_records_and_queries(browser, world):
    from selenium.webdriver.common.by import By

    w = world[0]
    slow = next(p.site for p in w.manifest if p.shows_as == "days_to_answer")
    assert not browser.find_element(By.ID, "drill").is_displayed()
    browser.find_element(By.CSS_SELECTOR,
                         f'td[data-key="{slow}|days_to_answer"]').click()
    assert browser.find_element(By.ID, "drill").is_displayed()
    records = browser.find_element(By.ID, "drill-records").text
    assert records and records != "none listed"
    assert browser.find_elements(By.CSS_SELECTOR, "#drill-queries li")
    data = _data(world[1].paths[0].read_text(encoding="utf-8"))
    typed = next(s for s, qs in data["queries"].items()
                 if any(q["dq_site_response"] == XSS for q in qs))
    browser.find_element(By.CSS_SELECTOR, f'td[data-key="{typed}|open_queries"]').click()
    items = [li.get_attribute("textContent") for li in
             browser.find_elements(By.CSS_SELECTOR, "#drill-queries li")]
    assert any(XSS in t for t in items)            # shown as text by textContent
    assert browser.execute_script("return window.__xss === undefined")
