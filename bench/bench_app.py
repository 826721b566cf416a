"""Dashboard speed: time to first render of each page and to re-render after an input change.

Uses Streamlit's AppTest in this process (server-side script time; the browser adds a roughly
constant overhead). Prints ``RESULT name=value target=... ok=true|false`` lines. The Home page
must be useful in under 3 s; the figure is also given as a ratio to a trivial page measured in
the same run, so machine noise shows up in both.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

FIRST_SCREEN_TARGET_S = 3.0


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trivial = Path(tmp) / "trivial.py"
        trivial.write_text("import streamlit as st\nst.title('x')\n")
        baseline = timed(lambda: AppTest.from_file(str(trivial), default_timeout=60).run())
    print(f"# trivial page: {baseline:.2f} s")
    home = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    first = timed(home.run)
    ok = first < FIRST_SCREEN_TARGET_S and not home.exception
    print(f"RESULT home_first_render_s={first:.2f} target<{FIRST_SCREEN_TARGET_S} ok={'true' if ok else 'false'}")
    print(f"RESULT home_first_render_vs_trivial={first / baseline:.1f} target=info ok=true")
    rerender = timed(lambda: home.slider(key="home_onset_age").set_value(55).run())
    print(f"RESULT home_rerender_s={rerender:.2f} target<{FIRST_SCREEN_TARGET_S} ok={'true' if rerender < FIRST_SCREEN_TARGET_S else 'false'}")
    for page in ("explorer", "trial_designer", "credibility"):
        at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=600)
        seconds = timed(at.run)
        print(f"RESULT {page}_first_render_s={seconds:.2f} target=info ok={'false' if at.exception else 'true'}")
    designer = AppTest.from_file(str(ROOT / "pages" / "trial_designer.py"), default_timeout=600)
    designer.run()
    designer.number_input(key="designer_n_per_arm").set_value(1000)
    designer.number_input(key="designer_n_arms").set_value(2).run()
    seconds = timed(lambda: designer.button(key="designer_run").click().run())
    print(f"RESULT trial_designer_2x1000_s={seconds:.1f} target=info ok={'false' if designer.exception else 'true'}")


if __name__ == "__main__":
    main()
