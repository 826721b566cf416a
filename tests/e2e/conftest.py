"""Browser-test harness: a Streamlit server and a headless Chromium page driven by Playwright.

Needs Debian's Chromium and the Playwright Python package (Playwright's own browser download is not used)::

    apt-get update && apt-get install -y chromium
    python -m pip install -r requirements-test.txt   # brings playwright

Fixtures: ``app_url`` (session: the running app's base URL), ``database_url`` (session: the throw-away SQLite
database that server gets as DATABASE_URL), ``fresh_app_url`` (a server of its own for one test) and ``page``
(a fresh Playwright page per test).
Helpers: ``wait_for_app(page)``, ``assert_no_exception(page)``, ``screenshot(page, name)``, and for widgets
addressed by their Streamlit key: ``widget(page, key)``, ``set_number(page, key, value)``,
``set_text(page, key, text)``, ``click_button(page, key)``, ``choose_option(page, key, option)``,
``selectbox_options(page, key)``,
``wait_for_charts(page, n)``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(__file__).resolve().parent / "screenshots"
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS") == "1"  # a screenshot at every step of the journeys (for reviewing the UI)
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
INSTALL_HINT = (
    "The browser tests need Debian's Chromium and the Playwright Python package: run "
    "`apt-get update && apt-get install -y chromium` and `python -m pip install -r requirements-test.txt` "
    "(which pins playwright). `playwright install` is not needed and cannot download browsers here."
)

SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 10.0
APP_RUN_TIMEOUT_MS = 60_000
DEFAULT_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SCREENSHOT_HEIGHT = 8000

# Pixels hidden below the fold of Streamlit's scrolling main container.
_MAIN_OVERFLOW_JS = """
() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return main ? Math.max(0, main.scrollHeight - main.clientHeight) : 0;
}
"""

# Streamlit 1.67 front end: the root element carries the script-run and connection states
# (data-test-script-state: initial | running | rerunRequested | stopRequested | notRunning | compilationError).
_APP_IDLE_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || !document.querySelector('[data-testid="stAppViewContainer"]')) return false;
  const conn = app.getAttribute('data-test-connection-state');
  if (conn !== null && conn !== 'CONNECTED') return false;
  const state = app.getAttribute('data-test-script-state');
  if (state !== null && state !== 'notRunning' && state !== 'compilationError') return false;
  const running = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
  if (running && running.getClientRects().length > 0) return false;
  return true;
}
"""


# ----------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the server and everything in its process group (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=SERVER_STOP_TIMEOUT_S)


def _server_env(home: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # Scenarios saved during the tests go to a throw-away database, never the user's.
    env["DATABASE_URL"] = database_url
    # A throw-away HOME keeps ~/.streamlit (config, credentials) and caches out of the user's home and
    # keeps the user's own Streamlit config out of the test; user-site packages stay importable.
    env["PYTHONUSERBASE"] = os.environ.get("PYTHONUSERBASE", site.getuserbase())
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env["MPLCONFIGDIR"] = str(home / ".matplotlib")
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    env["STREAMLIT_SERVER_HEADLESS"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("STREAMLIT_SERVER_PORT", None)
    return env


def _start_server(workdir: Path, attempt: int, database_url: str) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    log = workdir / f"streamlit-{attempt}.log"
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=_server_env(workdir / "home", database_url),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, so _stop reaches any children
        )
    return proc, f"http://127.0.0.1:{port}", log


def _wait_healthy(proc: subprocess.Popen, base_url: str, timeout_s: float) -> bool:
    """True once /_stcore/health answers "ok"; False if the process died first. Raises TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200 and resp.read().decode().strip() == "ok":
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    raise TimeoutError


@contextlib.contextmanager
def _workdir():
    """Temporary directory for a server's HOME, logs and database; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="e2e-streamlit-"))
    (workdir / "home").mkdir()
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'scenarios.sqlite'}"


@contextlib.contextmanager
def _serve(workdir: Path, database_url: str):
    """Run `streamlit run app.py` until the block ends; yields its base URL (no trailing slash)."""
    proc = None
    try:
        for attempt in range(3):  # another process may grab the free port between probe and bind
            proc, base_url, log = _start_server(workdir, attempt, database_url)
            try:
                if _wait_healthy(proc, base_url, SERVER_START_TIMEOUT_S):
                    break
            except TimeoutError:
                _stop(proc)
                pytest.fail(
                    f"Streamlit did not answer 'ok' on {base_url}/_stcore/health within {SERVER_START_TIMEOUT_S:.0f} s.\n"
                    f"Server output:\n{_tail(log)}",
                    pytrace=False,
                )
            output = _tail(log)
            port_taken = "is not available" in output or "already in use" in output  # Streamlit 1.67 / older wording
            if not port_taken or attempt == 2:
                pytest.fail(
                    f"Streamlit exited with code {proc.returncode} before it was healthy.\nServer output:\n{output}",
                    pytrace=False,
                )
        yield base_url
    finally:
        if proc is not None:
            _stop(proc)


@pytest.fixture(scope="session")
def _server_workdir():
    with _workdir() as workdir:
        yield workdir


@pytest.fixture(scope="session")
def database_url(_server_workdir):
    """SQLAlchemy URL of the (initially empty) SQLite database the `app_url` server uses as DATABASE_URL."""
    return _sqlite_url(_server_workdir)


@pytest.fixture(scope="session")
def app_url(_server_workdir, database_url):
    """Base URL (no trailing slash) of the app served by `streamlit run app.py` for the whole session."""
    with _serve(_server_workdir, database_url) as base_url:
        yield base_url


@pytest.fixture
def fresh_app_url():
    """Base URL of a server of its own for one test: no session has run any page on it yet."""
    with _workdir() as workdir, _serve(workdir, _sqlite_url(workdir)) as base_url:
        yield base_url


# ----------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"The Python package playwright is not importable ({exc}). {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(_playwright):
    """Headless Debian Chromium, one for the session."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"No Chromium executable at {CHROMIUM}. {INSTALL_HINT}", pytrace=False)
    home = Path(tempfile.mkdtemp(prefix="e2e-chromium-home-"))
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"))
    try:
        browser = _playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env, timeout=60_000
        )
    except Exception as exc:  # any launch failure becomes a clear test failure
        shutil.rmtree(home, ignore_errors=True)
        pytest.fail(f"Could not launch {CHROMIUM} through Playwright: {exc}\n{INSTALL_HINT}", pytrace=False)
    try:
        yield browser
    finally:
        browser.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def page(browser):
    """A fresh page in its own browser context (clean cookies and storage) for each test."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


# ----------------------------------------------------------------------------- helpers


def wait_for_app(page, timeout_ms: int = APP_RUN_TIMEOUT_MS, settle_ms: int = 300) -> None:
    """Wait until Streamlit is connected and has finished running the script (no rerun pending).

    Call it after `page.goto(...)` and after every interaction that triggers a rerun. The state must hold
    for `settle_ms` so that a rerun requested just before the call is not missed.
    """
    page.locator('[data-testid="stAppViewContainer"]').wait_for(state="visible", timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        page.wait_for_function(_APP_IDLE_JS, timeout=remaining_ms, polling=100)
        page.wait_for_timeout(settle_ms)
        if page.evaluate(_APP_IDLE_JS):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"The Streamlit app did not settle within {timeout_ms} ms")


def assert_no_exception(page) -> None:
    """Fail if the app shows any exception box (st.exception or an uncaught error in a page)."""
    boxes = page.locator('[data-testid="stException"]')
    count = boxes.count()
    if count:
        texts = "\n---\n".join(boxes.nth(i).inner_text() for i in range(count))
        raise AssertionError(f"The app shows {count} exception(s):\n{texts}")


def screenshot(page, name: str, full_page: bool = True, always: bool = False) -> Path | None:
    """Save a PNG of the page as tests/e2e/screenshots/NAME(.png) and return its path.

    Only with ``E2E_SCREENSHOTS=1`` (or ``always``): a full-page screenshot re-lays out and re-renders the page in
    software, about 15% of a journey's time. A failing browser test always leaves a screenshot (see
    ``pytest_runtest_makereport`` below).

    Streamlit scrolls inside its main container, not the document, so for `full_page` the viewport is
    made tall enough for that container's whole content (capped at MAX_SCREENSHOT_HEIGHT) and restored after.
    """
    if not (always or SCREENSHOTS):
        return None
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / (name if name.endswith(".png") else f"{name}.png")
    viewport = page.viewport_size
    if full_page and viewport:
        overflow = page.evaluate(_MAIN_OVERFLOW_JS)
        height = min(viewport["height"] + overflow, MAX_SCREENSHOT_HEIGHT)
        if height > viewport["height"]:
            page.set_viewport_size({"width": viewport["width"], "height": height})
            page.wait_for_timeout(300)
            try:
                page.screenshot(path=str(path), full_page=True)
            finally:
                page.set_viewport_size(viewport)
            return path
    page.screenshot(path=str(path), full_page=full_page)
    return path


# ----------------------------------------------------------------------------- widget helpers
# Streamlit 1.67 puts a widget's key on its container as the class ``st-key-<key>``.


def widget(page, key: str):
    """Locator of the container of the widget (or keyed element) with Streamlit key `key`."""
    return page.locator(f".st-key-{key}")


def set_number(page, key: str, value, commit: str = "Enter") -> None:
    """Type `value` into the number input with key `key` and commit it (Enter, or Tab inside a form)."""
    box = widget(page, key).locator("input")
    box.fill(str(value))
    box.press(commit)
    wait_for_app(page)


def set_text(page, key: str, text: str, commit: str = "Enter") -> None:
    """Replace the text of the text input with key `key` and commit it."""
    box = widget(page, key).locator("input")
    box.fill(text)
    box.press(commit)
    wait_for_app(page)


def click_button(page, key: str, timeout_ms: int = APP_RUN_TIMEOUT_MS) -> None:
    """Click the (enabled) button with key `key` and wait for the rerun it starts (at most `timeout_ms`)."""
    button = widget(page, key).locator("button")
    button.wait_for(state="visible")
    assert button.is_enabled(), f"button {key!r} is disabled"
    button.click()
    wait_for_app(page, timeout_ms=timeout_ms)


def _open_selectbox(page, key: str):
    """Open the option list of the selectbox with key `key`; return (combobox input, listbox) locators.

    Streamlit 1.67 draws selectboxes as react-aria comboboxes, whose list closes on any scroll. A click on a
    widget below the fold makes Playwright scroll first, and that scroll can close the list it opens: so
    scroll, let it settle, then click (a few bounded attempts).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    combo = widget(page, key).locator('input[role="combobox"]')
    listbox = page.get_by_role("listbox")
    combo.scroll_into_view_if_needed()
    for _ in range(3):
        page.wait_for_timeout(250)
        if combo.get_attribute("aria-expanded") != "true":
            combo.click()
        try:
            listbox.wait_for(state="visible", timeout=3_000)
            return combo, listbox
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"the option list of selectbox {key!r} did not open")


def selectbox_options(page, key: str) -> list[str]:
    """The option texts of the selectbox with key `key` (opens its list, reads it, closes it again)."""
    combo, listbox = _open_selectbox(page, key)
    options = [text.strip() for text in listbox.get_by_role("option").all_inner_texts()]
    combo.press("Escape")
    listbox.wait_for(state="hidden")
    return options


def choose_option(page, key: str, option: str) -> None:
    """Open the selectbox with key `key` and pick the option whose text is exactly `option`."""
    _, listbox = _open_selectbox(page, key)
    listbox.get_by_role("option", name=option, exact=True).click()
    wait_for_app(page)


def wait_for_charts(page, n: int, timeout_ms: int = APP_RUN_TIMEOUT_MS) -> int:
    """Wait until at least `n` Plotly charts are drawn; return how many there are."""
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n && "
        "document.querySelectorAll('.js-plotly-plot').length >= n",
        arg=n,
        timeout=timeout_ms,
        polling=200,
    )
    return page.locator(".js-plotly-plot").count()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test leaves a screenshot of where it stopped: tests/e2e/screenshots/FAILED_<test>.png."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.failed and call.when == "call" and page is not None:
        try:
            screenshot(page, "FAILED_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:120], full_page=False, always=True)
        except Exception:  # the page may be gone (browser crashed): the report matters more than the picture
            pass
    return report

