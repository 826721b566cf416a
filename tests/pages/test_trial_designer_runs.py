"""Trial designer (issue 14): arms added after loading, stable arm panels, stale results kept, compact table with
confidence intervals, runs side by side, cancel and a time estimate."""

import pytest
from streamlit.testing.v1 import AppTest

from qsp import paths
from tests.pages import table_with_column

TWO_ARMS = """name: two arms
seed: 2
n_per_arm: 10
duration_weeks: 24
assess_weeks: [24]
population: {amyloid_cl: [37, null]}
arms:
  - name: control
  - name: lecanemab
    regimen: lecanemab_q2w
"""


@pytest.fixture
def at(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'designer.sqlite'}")
    from qsp.store.database import ScenarioStore
    from qsp.trial.scenario import scenario_from_text

    ScenarioStore(f"sqlite:///{tmp_path / 'designer.sqlite'}").save(scenario_from_text(TWO_ARMS))
    page = AppTest.from_file(str(paths.ROOT / "pages/trial_designer.py"), default_timeout=300).run()
    page.selectbox(key="designer_saved").set_value("two arms").run()
    page.button(key="designer_load_db").click().run()
    assert page.number_input(key="designer_n_arms").value == 2
    return page


def _errors(page):
    return [e.value for e in page.error]


def test_a_third_arm_after_loading_two_gets_a_name_and_errors_name_arms_as_the_page_does(at):
    at.session_state["designer_arm2_name"] = ""  # the state a browser left for the hidden third arm
    at.number_input(key="designer_n_arms").set_value(3).run()
    assert at.text_input(key="designer_arm2_name").value == "arm 3"
    assert not _errors(at)
    at.text_input(key="designer_arm2_name").set_value("").run()
    errors = _errors(at)
    assert any(e.startswith("Arm 3: name:") for e in errors) and not any("arms.2" in e for e in errors)
    run = at.button(key="designer_run")
    assert run.disabled  # still drawn, waiting for a valid design


def test_renaming_an_arm_keeps_its_panel_and_label(at):
    """Issue 14: renaming an arm collapsed its panel (its label, and so its identity, changed)."""
    before = [e.label for e in at.expander]
    at.text_input(key="designer_arm1_name").set_value("lecanemab q2w").run()
    assert [e.label for e in at.expander] == before and "Arm 2" in before
    assert any("Arm 2: lecanemab q2w" in c.value for c in at.caption)  # the names are listed above the panels


def test_results_stay_marked_stale_runs_compare_and_the_table_is_compact(at):
    assert any("Estimated time" in c.value for c in at.caption)
    at.button(key="designer_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    compact = table_with_column(at.dataframe, "measure").set_index("measure")
    assert list(compact.columns) == ["control", "lecanemab"]  # one column per arm: narrow enough to read
    assert compact.loc["iADRS vs control (95% CI)", "control"] == "reference"
    assert " to " in compact.loc["iADRS vs control (95% CI)", "lecanemab"]
    assert {"CDR-SB change (95% CI)", "ARIA-E % (95% CI)"} <= set(compact.index)
    assert "None" not in compact.to_numpy().ravel().tolist()
    full = table_with_column(at.dataframe, "iADRS slowing %")
    assert full["iADRS slowing %"].iloc[0] == "reference"
    # a changed setting keeps the results, marked as from an earlier design
    at.number_input(key="designer_n_per_arm").set_value(12).run()
    assert any("from an earlier design" in w.value for w in at.warning)
    assert table_with_column(at.dataframe, "measure") is not None
    assert not at.button(key="designer_run").disabled
    assert any("measured on this machine" in c.value for c in at.caption)
    at.button(key="designer_run").click().run()
    assert not any("from an earlier design" in w.value for w in at.warning)
    both = table_with_column(at.dataframe, "run")
    assert both["run"].nunique() == 2 and len(both) == 4
    assert "iADRS vs reference arm (95% CI)" in both.columns


def test_a_cancelled_run_keeps_no_results(at):
    at.session_state["designer_cancelled"] = 1  # what the Cancel button sets for run 1
    at.button(key="designer_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Run cancelled" in i.value for i in at.info)
    with pytest.raises(KeyError):
        table_with_column(at.dataframe, "measure")
    assert "designer_runs" not in at.session_state or not at.session_state["designer_runs"]
