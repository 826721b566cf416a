"""User journeys through the dashboard in a real browser: explorer, trial designer (run, save/load), credibility.

Each journey checks that no exception box appears, that the expected Plotly charts are drawn, and saves a
screenshot per step in tests/e2e/screenshots/ (names start with the journey: ``explorer_``, ``designer_``,
``scenario_``, ``credibility_``, ``direct_url_``). Pages are reached as a user does, from the app's root through
the sidebar; ``test_page_url_on_a_fresh_server`` checks a page URL opened first on a newly started server.
"""

from __future__ import annotations

import re

from tests.e2e.conftest import (
    APP_RUN_TIMEOUT_MS,
    assert_no_exception,
    choose_option,
    click_button,
    screenshot,
    selectbox_options,
    set_number,
    set_text,
    wait_for_app,
    wait_for_charts,
    widget,
)

# Bounded waits for the long script runs (milliseconds).
PROJECTION_TIMEOUT_MS = 90_000  # explorer projection of a few dozen drawn patients
TRIAL_TIMEOUT_MS = 180_000  # 3 arms x 40 patients + power analysis; about 5-20 s when the machine is idle
CREDIBILITY_TIMEOUT_MS = 240_000  # live calibration trials when no matching validation snapshot is stored

ARMS_3 = ["placebo", "donanemab standard", "donanemab modified titration"]
FOURTH_ARM = "lecanemab q2w"
N_TRIAL_CHARTS = 7  # trial_designer.MEASURES
APP_PAGES = ["Home", "Continuum explorer", "Trial designer", "Credibility"]  # some of app.py's st.navigation titles
PAGE_PATHS = {"Continuum explorer": "explorer", "Trial designer": "trial_designer", "Credibility": "credibility"}


# ----------------------------------------------------------------------------- helpers


def sidebar_pages(page) -> list[str]:
    """Titles of the page links in the sidebar navigation (each link's text ends with its title)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    links.first.wait_for(state="visible")
    return [text.strip().split("\n")[-1].strip() for text in links.all_inner_texts()]


def assert_app_navigation(titles: list[str], hint: str = "") -> None:
    """The sidebar lists app.py's st.navigation pages (by title), not files."""
    missing = [title for title in APP_PAGES if title not in titles]
    assert not missing, f"{hint}\nSidebar pages {titles} lack {missing}".strip()


def open_page(page, app_url: str, title: str, timeout_ms: int = 60_000) -> None:
    """Open the app at its root and go to the page `title` with its sidebar link, as a user does."""
    page.goto(app_url)
    wait_for_app(page)
    assert_no_exception(page)
    assert_app_navigation(sidebar_pages(page))
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).click()
    page.wait_for_url(re.compile(rf"/{PAGE_PATHS[title]}$"))
    wait_for_app(page, timeout_ms=timeout_ms)
    assert heading(page, title).count() == 1, f"no {title!r} title after following its sidebar link"


def heading(page, text: str):
    """The h1-h3 heading whose text is exactly `text` (Streamlit adds an anchor icon, not text)."""
    return page.locator("h1, h2, h3").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))


def metric(page, label: str):
    """The st.metric with this label."""
    return page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    )


def metric_value(page, label: str) -> str:
    return metric(page, label).locator('[data-testid="stMetricValue"]').inner_text().strip()


def dataframe_with_column(page, column: str):
    """The st.dataframe that has a column headed exactly `column`."""
    header = page.locator('[role="columnheader"]').filter(has_text=re.compile(rf"^\s*{re.escape(column)}\s*$"))
    return page.locator('[data-testid="stDataFrame"]').filter(has=header)


def column_cells(table, column: str) -> list[str]:
    """Texts of the cells in column `column` of a Glide data grid (via its accessibility table)."""
    return table.evaluate(
        """(el, column) => {
            const heads = Array.from(el.querySelectorAll('[role="columnheader"]')).map(h => h.textContent.trim());
            const idx = heads.indexOf(column);
            if (idx < 0) return [];
            return Array.from(el.querySelectorAll('[role="row"]'))
                .map(r => Array.from(r.querySelectorAll('[role="gridcell"]')))
                .filter(cells => cells.length > idx)
                .map(cells => cells[idx].textContent.trim());
        }""",
        column,
    )


def input_value(page, key: str) -> str:
    return widget(page, key).locator("input").input_value()


def chart_count(page) -> int:
    return page.locator(".js-plotly-plot").count()


# ----------------------------------------------------------------------------- journeys


def test_explore_a_patient(page, app_url):
    open_page(page, app_url, "Continuum explorer", timeout_ms=PROJECTION_TIMEOUT_MS)
    assert_no_exception(page)
    wait_for_charts(page, 1)
    before = {label: metric_value(page, label) for label in ("Stage today", "CDR-SB (model)")}
    screenshot(page, "explorer_01_default_patient")

    # Inside the form: Tab commits each value without submitting the form (Enter would submit it).
    set_number(page, "explorer_age", 81, commit="Tab")
    set_number(page, "explorer_score", 18, commit="Tab")
    assert input_value(page, "explorer_age") == "81.00"
    assert input_value(page, "explorer_score") == "18.00"
    screenshot(page, "explorer_02_form_edited")

    click_button(page, "FormSubmitter-explorer_form-Project", timeout_ms=PROJECTION_TIMEOUT_MS)
    assert_no_exception(page)
    assert input_value(page, "explorer_age") == "81.00"
    assert input_value(page, "explorer_score") == "18.00"

    assert metric(page, "Stage today").count() == 1
    after = {label: metric_value(page, label) for label in ("Stage today", "CDR-SB (model)")}
    assert after["Stage today"], "the 'Stage today' metric has no value"
    assert after != before, f"the projection did not change with age 81 and MMSE 18: {before} -> {after}"

    assert heading(page, "Time to the next stage").count() == 1
    table = dataframe_with_column(page, "next stage")
    table.wait_for(state="visible")
    regimens = column_cells(table, "regimen")
    assert len(regimens) == 3 and "Untreated" in regimens, regimens
    assert wait_for_charts(page, 1) >= 1
    screenshot(page, "explorer_03_projected")


def _design_three_arm_trial(page) -> None:
    set_number(page, "designer_n_per_arm", 40)
    set_number(page, "designer_n_arms", 3)
    set_text(page, "designer_weeks", "24, 52")  # before the duration: weeks must lie within it
    set_number(page, "designer_duration", 52)
    assert_no_exception(page)
    assert input_value(page, "designer_n_per_arm") == "40"
    assert input_value(page, "designer_n_arms") == "3"
    assert input_value(page, "designer_duration") == "52"
    assert input_value(page, "designer_weeks") == "24, 52"
    arm_titles = page.locator('[data-testid="stExpander"] summary').filter(has_text=re.compile(r"Arm \d+\s*$"))
    assert arm_titles.count() == 3, arm_titles.all_inner_texts()  # stable labels: renaming an arm keeps its panel open
    for i, name in enumerate(ARMS_3):  # the names are listed above the panels
        assert page.get_by_text(f"Arm {i + 1}: {name}", exact=False).count() >= 1, name


def test_three_arm_trial_power(page, app_url):
    open_page(page, app_url, "Trial designer")
    assert_no_exception(page)
    assert chart_count(page) == 0
    assert page.get_by_text("press Run trial", exact=False).count() == 1  # the "nothing run yet" hint
    screenshot(page, "designer_01_default")

    _design_three_arm_trial(page)
    screenshot(page, "designer_02_three_arms_configured")

    # a look at another page does not lose the design (Streamlit forgets undrawn widgets; the page keeps a copy)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Credibility").click()
    page.wait_for_url(re.compile(rf"/{PAGE_PATHS['Credibility']}$"))
    wait_for_app(page)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Trial designer").click()
    page.wait_for_url(re.compile(rf"/{PAGE_PATHS['Trial designer']}$"))
    wait_for_app(page)
    assert input_value(page, "designer_n_per_arm") == "40" and input_value(page, "designer_n_arms") == "3"
    assert input_value(page, "designer_weeks") == "24, 52"

    click_button(page, "designer_run", timeout_ms=TRIAL_TIMEOUT_MS)
    assert_no_exception(page)
    heading(page, "Results").wait_for(state="visible", timeout=TRIAL_TIMEOUT_MS)
    assert heading(page, "Power and sample size").count() == 1

    results = dataframe_with_column(page, "measure")  # the compact table: a column per arm (the full one is in an expander)
    results.wait_for(state="visible")
    for name in ARMS_3:
        assert dataframe_with_column(page, name).count() >= 1, name
    assert results.locator('[role="columnheader"]').filter(has_text=FOURTH_ARM).count() == 0
    power = dataframe_with_column(page, "power")
    assert power.count() == 1
    assert len(column_cells(power, "power")) >= 2  # each treated arm against placebo

    assert wait_for_charts(page, N_TRIAL_CHARTS, timeout_ms=60_000) >= N_TRIAL_CHARTS
    screenshot(page, "designer_03_results_and_power")


def test_save_and_reload_scenario(page, app_url, database_url):
    from qsp.store.database import ScenarioStore

    name = "e2e saved scenario"
    saved_n, changed_n = 60, 250
    open_page(page, app_url, "Trial designer")
    assert_no_exception(page)
    assert name not in ScenarioStore(database_url).names()

    set_text(page, "designer_name", name)
    set_number(page, "designer_n_per_arm", saved_n)
    assert input_value(page, "designer_name") == name
    assert input_value(page, "designer_n_per_arm") == str(saved_n)
    screenshot(page, "scenario_01_named")

    click_button(page, "designer_save")
    assert_no_exception(page)
    page.locator('[data-testid="stAlert"]').filter(has_text=f"Saved scenario '{name}'").wait_for(state="visible", timeout=10_000)
    assert name in ScenarioStore(database_url).names(), "the scenario did not reach the test database"
    screenshot(page, "scenario_02_saved")

    set_number(page, "designer_n_per_arm", changed_n)
    assert input_value(page, "designer_n_per_arm") == str(changed_n)

    page.locator('[data-testid="stExpander"] summary').filter(has_text="Saved scenarios (database) and files").click()
    wait_for_app(page)
    widget(page, "designer_saved").wait_for(state="visible")
    assert widget(page, "designer_load_db").locator("button").is_disabled()  # nothing chosen yet
    choose_option(page, "designer_saved", name)
    screenshot(page, "scenario_03_chosen_in_list")

    click_button(page, "designer_load_db")
    assert_no_exception(page)
    assert page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text=f"Loaded scenario '{name}'").count() == 1
    assert input_value(page, "designer_n_per_arm") == str(saved_n)
    assert input_value(page, "designer_name") == name
    screenshot(page, "scenario_04_loaded")


def test_credibility(page, app_url):
    open_page(page, app_url, "Credibility", timeout_ms=CREDIBILITY_TIMEOUT_MS)
    assert_no_exception(page)

    for label in ("Calibration targets within tolerance", "Validation targets within tolerance"):  # the two sets apart
        metric(page, label).wait_for(state="visible", timeout=10_000)
        value = metric_value(page, label)
        match = re.fullmatch(r"(\d+) of (\d+)", value)
        assert match and int(match[2]) > 0 and int(match[1]) <= int(match[2]), value

    tables = dataframe_with_column(page, "published")  # validation and calibration, apart
    tables.nth(1).wait_for(state="visible")  # both drawn (on a loaded machine the second came a moment later)
    assert tables.count() == 2
    assert all(len(column_cells(tables.nth(k), "trial")) > 0 for k in range(2))
    measures = column_cells(tables.nth(1), "measure")  # readable names (the RESULT.json key is the last column)
    assert measures and not [m for m in measures if "_" in m], measures
    assert wait_for_charts(page, 2) >= 2  # the targets figure and at least one trial curve
    screenshot(page, "credibility_01_loaded")

    current = input_value(page, "credibility_trial")
    assert "_" not in current, current  # the trial's name (CLARITY AD), not the scenario file's stem (clarity_ad)
    others = [o for o in selectbox_options(page, "credibility_trial") if o != current]
    assert others, f"only one trial to show besides {current!r}"
    choose_option(page, "credibility_trial", others[0])
    assert_no_exception(page)
    assert input_value(page, "credibility_trial") == others[0]
    assert wait_for_charts(page, 2) >= 2
    screenshot(page, "credibility_02_other_trial")


# Runs in the browser before the app's own scripts: logs every distinct state of the sidebar's page list from the
# first paint on (a MutationObserver callback runs before the browser paints the change it reports).
_RECORD_SIDEBAR_NAV_JS = """
window.__sidebarNavStates = [];
new MutationObserver(() => {
  const titles = Array.from(document.querySelectorAll('[data-testid="stSidebarNav"] a'))
    .map(a => a.innerText.trim().split('\\n').pop().trim());
  const states = window.__sidebarNavStates;
  if (titles.length && JSON.stringify(titles) !== JSON.stringify(states[states.length - 1])) states.push(titles);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

# True once the run that shows `heading` under a sidebar listing all of `titles` has finished.
_SETTLED_UNDER_APP_NAVIGATION_JS = """
([titles, heading]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const listed = Array.from(document.querySelectorAll('[data-testid="stSidebarNav"] a'))
    .map(a => a.innerText.trim().split('\\n').pop().trim());
  const headings = Array.from(document.querySelectorAll('h1, h2, h3')).map(h => h.textContent.trim());
  return titles.every(t => listed.includes(t)) && headings.includes(heading);
}
"""


def test_page_url_on_a_fresh_server(page, fresh_app_url):
    """A bookmarked page URL is the first request after the server (re)starts: it gets the app's navigation from
    the first paint on, never Streamlit's legacy list of the files in pages/ (which used to show for ~2 s)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.add_init_script(_RECORD_SIDEBAR_NAV_JS)
    page.goto(f"{fresh_app_url}/trial_designer")
    hint = (
        "Opened first on a fresh server, /trial_designer showed these sidebar lists in turn: {}. A list of the files "
        "of pages/ (and app.py) is Streamlit's legacy pages/-folder mode, which Streamlit picks for its first session "
        "when a folder named pages/ sits beside the entry script and no session has run st.navigation yet; app.py's "
        "st.App start-up hook (pages/_navigation.navigation_from_start) prevents it."
    )
    try:
        page.wait_for_function(
            _SETTLED_UNDER_APP_NAVIGATION_JS, arg=[APP_PAGES, "Trial designer"], polling=100, timeout=APP_RUN_TIMEOUT_MS
        )
    except PlaywrightTimeoutError:
        states = page.evaluate("window.__sidebarNavStates")
        raise AssertionError(f"No finished 'Trial designer' run under app.py's navigation. {hint.format(states)}") from None
    assert_no_exception(page)
    screenshot(page, "direct_url_01_trial_designer_on_fresh_server")
    assert heading(page, "Trial designer").count() == 1
    states = page.evaluate("window.__sidebarNavStates")
    for titles in states:
        assert_app_navigation(titles, hint.format(states))


def test_streamlit_still_decides_by_the_pages_flag(tmp_path, monkeypatch):
    """The private Streamlit internals pages/_navigation.use_app_navigation relies on (fails if Streamlit changes them).

    `streamlit run app.py` must find app.py's st.App (whose start-up hook calls use_app_navigation); the flag it
    sets must survive the first session's PagesManager, and the script runner must still pick the legacy mode by it.
    """
    import inspect

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.web.server.app_discovery import discover_asgi_app

    from pages._navigation import use_app_navigation
    from tests.e2e.conftest import REPO_ROOT

    assert discover_asgi_app(REPO_ROOT / "app.py").import_string == "app:app"
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text("")
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)  # as in a fresh server process
    PagesManager(str(tmp_path / "app.py"))
    assert PagesManager.uses_pages_directory is True, "Streamlit no longer enters the legacy mode by this flag"
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)
    use_app_navigation()
    PagesManager(str(tmp_path / "app.py"))
    assert PagesManager.uses_pages_directory is False
    assert "PagesManager.uses_pages_directory" in inspect.getsource(script_runner.ScriptRunner._run_script)
