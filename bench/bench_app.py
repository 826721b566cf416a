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

from ml.enrich import enrolment_filter  # noqa: E402
from ml.stratify import cohort_settings, train_models  # noqa: E402
from qsp import paths  # noqa: E402
from qsp.population.profile import project_profile  # noqa: E402
from qsp.trial.design import form_defaults, run_design, run_enriched_comparison, scenario_from_form  # noqa: E402
from qsp.trial.power import PowerSettings  # noqa: E402
from qsp.twin.fit import fit_twin  # noqa: E402
from qsp.twin.forecast import forecast_twin  # noqa: E402
from qsp.twin.records import read_patient_csv  # noqa: E402

# The interactive paths of issue 12: the core calls behind each page's button, warm (second call), in seconds.
TARGETS_S = {"designer_3x200_s": 3.0, "designer_2x1000_s": 6.0, "explorer_s": 1.0, "twin_fit_s": 1.5,
             "stratification_train_s": 10.0, "enriched_trial_s": 8.0}


def result_line(name: str, seconds: float) -> None:
    target = TARGETS_S[name]
    print(f"RESULT {name}={seconds:.2f} target<={target:g} ok={'true' if seconds <= target else 'false'}")


def warm(fn) -> float:
    """Seconds of the second call (the first compiles the model and builds the natural-history pool blocks)."""
    fn()
    return timed(fn)


def interactive_paths() -> None:
    """Time the core work each page's button starts, with the page's default inputs."""
    scenario = scenario_from_form(form_defaults())
    result_line("designer_3x200_s", warm(lambda: run_design(scenario, PowerSettings())))
    big = scenario.model_copy(update={"n_per_arm": 1000, "arms": scenario.arms[:2]})
    result_line("designer_2x1000_s", warm(lambda: run_design(big, PowerSettings())))
    profile = {"age": 72, "sex": "F", "weight_kg": 70, "apoe4_copies": 1, "amyloid_cl": 90, "tau_suvr": 1.3, "cdrsb": 3.5}
    result_line("explorer_s", warm(lambda: project_profile(profile, {"lecanemab_q2w": "lecanemab_q2w"}, years=5, n_draws=30)))
    patient = read_patient_csv(paths.DATA_DIR / "twin_examples" / "ex-mci-001.csv")
    result_line("twin_fit_s", warm(lambda: forecast_twin(fit_twin(patient), {"lecanemab_q2w": "lecanemab_q2w"})))
    twin = fit_twin(patient)
    print(f"# twin: fit {twin.fit_seconds_:.2f} s ({len(twin.theta_)} weighted draws), forecast "
          f"{timed(lambda: forecast_twin(twin, {'lecanemab_q2w': 'lecanemab_q2w'})):.2f} s (untreated and 100 treated draws)")
    settings = cohort_settings(600, 1, 9.0, 3.0)
    models = {}
    result_line("stratification_train_s", warm(lambda: models.update(train_models(settings)[1])))
    keep = enrolment_filter(models, "progression>0.5")
    result_line("enriched_trial_s", warm(lambda: run_enriched_comparison(scenario, PowerSettings(), keep)))

FIRST_SCREEN_TARGET_S = 3.0


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    interactive_paths()
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
