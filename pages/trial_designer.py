"""Trial designer: arms, enrolment and design -> virtual trial, endpoints, ARIA-E, power and sample size."""

import time

import streamlit as st

from pages import _auth
from pages._common import (
    active_model_ref,
    cached_library,
    cached_regimen_library,
    cached_scenario_store,
    keep,
    key_of,
    model_banner,
    model_of,
    notice,
    remember,
    show_problems,
    show_validation_warnings,
)
from pages._designer_results import fmt_seconds, show_results
from qsp import constants as C
from qsp.errors import QSPError
from qsp.plots.trial import STAGE_LABELS, TAU_GROUP_LABELS
from qsp.store.database import database_url
from qsp.trial import design as D
from qsp.trial.power import PowerSettings
from qsp.trial.runs import KeptRun, RunCancelled, cancellable, estimate_seconds, keep_run, ms_per_patient, patients_to_simulate
from qsp.trial.scenario import scenario_from_text, scenario_to_yaml

P = "designer_"  # widget-key prefix of this page

st.title("Trial designer")
notice()
active = model_banner()
model_ref = active_model_ref()
available = set(C.OBSERVABLES if active is None else active.available)  # what the model's mapping provides
library = cached_library()
ss = st.session_state


def _init_state():
    for field, value in D.form_defaults().items():
        remember("designer", P + field, value)
    remember("designer", P + "results", {})
    keep("designer")


def _form() -> dict:
    """The form's values without the key prefix (what the core reads)."""
    return {k[len(P):]: ss[k] for k in list(ss.keys()) if k.startswith(P)}


def load_into_state(scenario) -> None:
    """Callback: put a scenario's values into the widgets (before they are drawn)."""
    fields = D.form_from_scenario(scenario, cached_regimen_library())
    for i in range(D.MAX_ARMS):
        if f"arm{i}_phases" in fields:
            ss.pop(f"{P}arm{i}_phases_editor", None)  # drop edits made against the previous table
    ss.update({P + k: v for k, v in fields.items()})


def _store():
    return cached_scenario_store(database_url(), _auth.current_owner())


def _may_save() -> bool:
    """Saving and opening saved scenarios: always with sign-in off, only when signed in with it on."""
    return not _auth.sign_in_enabled() or _auth.current_owner() is not None


def _load_from_db(name: str):
    try:
        load_into_state(_store().load(name))
        ss[P + "message"] = ("success", f"Loaded scenario {name!r} from the database.")
    except QSPError as exc:
        ss[P + "message"] = ("error", str(exc))


def _load_upload():
    upload = ss.get(P + "upload")
    if upload is None:
        return
    try:
        load_into_state(scenario_from_text(upload.getvalue().decode("utf-8", errors="replace")))
        ss[P + "message"] = ("success", f"Loaded scenario from {upload.name}.")
    except QSPError as exc:
        ss[P + "message"] = ("error", f"{upload.name}: {exc}")


def _admit_everyone() -> None:
    """Callback: widest enrolment criteria (an uploaded model's scales may differ from the built-in model's)."""
    ss.update({P + k: v for k, v in D.OPEN_ENROLMENT.items()})


_init_state()

# ------------------------------------------------------------------ scenario I/O
with st.expander("Saved scenarios (database) and files", expanded=False):
    try:
        names = _store().names() if _auth.saving_allowed("scenarios") else []
    except QSPError as exc:
        names = []
        show_problems(exc)
    c1, c2 = st.columns([3, 1])
    chosen = c1.selectbox("Saved scenarios", names, index=None, placeholder="choose a saved scenario", key=P + "saved")
    c2.button("Load", key=P + "load_db", disabled=chosen is None, on_click=_load_from_db, args=(chosen,))
    st.file_uploader("Load a scenario file (YAML or JSON, as the CLI takes)", type=["yaml", "yml", "json"],
                     key=P + "upload", on_change=_load_upload)
message = ss.pop(P + "message", None)
if message:
    {"success": st.success, "info": st.info}.get(message[0], st.error)(message[1])

# ------------------------------------------------------------------ design
st.subheader("Design")
c1, c2, c3, c4 = st.columns(4)
c1.text_input("Scenario name", key=P + "name")
c2.number_input("Patients per arm", 10, 20000, step=50, key=P + "n_per_arm")
c3.number_input("Duration (weeks)", 4, 520, key=P + "duration")
c4.number_input("Seed", 0, 2**31 - 1, key=P + "seed")
c1, c2, c3 = st.columns(3)
c1.text_input("Assessment weeks", key=P + "weeks", help="comma-separated, e.g. 24, 52, 76")
c2.checkbox("Measurement noise", key=P + "noise", help="realistic test-retest error on PET and ratings; the stop rule reads noisy amyloid")
c3.number_input("Dropout (% per year)", 0.0, 90.0, step=1.0, key=P + "dropout")

st.subheader("Enrolment")
st.button("Clear the enrolment criteria", key=P + "clear_criteria", on_click=_admit_everyone,
          help="Admit every simulated patient, whatever their baseline (the criteria are in the built-in model's units).")
c1, c2, c3 = st.columns(3)
c1.number_input("Amyloid PET at least (CL)", D.AMYLOID_MIN_CL, 200.0, step=1.0, key=P + "amyloid_min")
c2.number_input("Amyloid PET at most (CL; 300 = no limit)", 0.0, D.AMYLOID_NO_LIMIT_CL, step=5.0, key=P + "amyloid_max")
c3.multiselect("Tau groups", list(C.TAU_GROUPS), format_func=TAU_GROUP_LABELS.get, key=P + "tau",
               help="very low < 1.10 SUVr <= low/medium <= 1.46 SUVr < high")
c1, c2 = st.columns(2)
c1.slider("MMSE range", *D.MMSE_RANGE, key=P + "mmse", disabled=C.MMSE not in available,
          help=None if C.MMSE in available else "This model does not provide MMSE: no MMSE criterion is applied.")
c2.slider("Age range (years)", *D.AGE_RANGE, key=P + "age")
c1, c2 = st.columns(2)
c1.multiselect("APOE4 copies", [0, 1, 2], key=P + "apoe4")
c2.multiselect("Stages", list(C.STAGES), format_func=STAGE_LABELS.get, key=P + "stage")

st.subheader("Arms")
st.number_input("Number of arms (the first is the reference)", 1, D.MAX_ARMS, key=P + "n_arms",
                on_change=lambda: ss.update({P + k: v for k, v in D.default_arm_names(_form()).items()}))
st.caption("  ·  ".join(f"Arm {i + 1}: {ss[f'{P}arm{i}_name'] or '(no name)'}" for i in range(ss[P + "n_arms"])))
for i in range(ss[P + "n_arms"]):
    with st.expander(f"Arm {i + 1}", expanded=False, key=f"{P}arm{i}_panel"):  # a label that renaming leaves alone: the panel stays open
        c1, c2 = st.columns(2)
        c1.text_input("Name", key=f"{P}arm{i}_name")
        c2.radio("Regimen", D.SOURCES, horizontal=True, key=f"{P}arm{i}_source")
        source = ss[f"{P}arm{i}_source"]
        if source == "library":
            st.selectbox("Library regimen", list(library), format_func=lambda n: library[n]["label"], key=f"{P}arm{i}_library")
            st.caption(f"{library[ss[f'{P}arm{i}_library']]['describe']} (source: {library[ss[f'{P}arm{i}_library']]['source']})")
        elif source == "custom":
            c1, c2 = st.columns(2)
            c1.selectbox("Drug", list(C.DRUG_IDS), key=f"{P}arm{i}_drug")
            c2.selectbox("Route", list(C.ROUTES), key=f"{P}arm{i}_route", help="iv: 1-hour infusion; sc: subcutaneous")
            ss[f"{P}arm{i}_phases_value"] = st.data_editor(
                ss[f"{P}arm{i}_phases"], num_rows="dynamic", key=f"{P}arm{i}_phases_editor",
                column_config={
                    "dose": st.column_config.NumberColumn("dose", min_value=0.0, help="per administration"),
                    "unit": st.column_config.SelectboxColumn("unit", options=list(C.DOSE_UNITS)),
                    "every_weeks": st.column_config.NumberColumn("every (weeks)", min_value=0.0),
                    "count": st.column_config.NumberColumn("count", min_value=1, step=1, help="empty: until the end (last phase only)"),
                    "route": st.column_config.SelectboxColumn("route override", options=["", "iv", "sc"]),
                },
            )
            c1, c2, c3, c4 = st.columns(4)
            c1.checkbox("Stop when cleared", key=f"{P}arm{i}_stop")
            c2.number_input("below (CL) once", -50.0, 200.0, key=f"{P}arm{i}_stop_below")
            c3.number_input("or below (CL) twice", D.STOP_TWICE_OFF_CL, 200.0, key=f"{P}arm{i}_stop_twice",
                            help=f"{D.STOP_TWICE_OFF_CL:g}: no twice-below rule")
            c4.text_input("at weeks", key=f"{P}arm{i}_stop_weeks")

with st.expander("Analysis for power and sample size", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    endpoint = c1.selectbox("Primary endpoint", D.endpoint_choices(available), format_func=lambda o: C.LABELS[o], key=P + "endpoint")
    alpha = c2.number_input("Two-sided alpha", 0.001, 0.2, 0.05, 0.005, format="%.3f", key=P + "alpha")
    target = c3.number_input("Target power", 0.5, 0.99, 0.8, 0.05, key=P + "target_power")
    replicates = c4.number_input("Replicate trials", 100, 2000, 400, 100, key=P + "replicates")
    st.caption("Change from baseline in the primary endpoint at the last assessment, ANCOVA on baseline "
               "(change ~ arm + baseline), each arm against the first; replicate trials resample the simulated "
               "completers of each arm with replacement. Required size: smallest arm size reaching the target power.")

with st.expander("Where to run (large trials)", expanded=False):
    c1, c2 = st.columns([1, 2])
    backend = c1.radio("Backend", list(D.BACKENDS), key=P + "backend",
                       help="Dask runs patients in parallel chunks; the numbers are identical to this machine's")
    scheduler = c2.text_input("Scheduler address (tcp://host:8786)", key=P + "scheduler", disabled=backend != D.SCHEDULER_BACKEND)

# ------------------------------------------------------------------ validate + run
try:
    scenario = D.scenario_from_form(_form(), mmse_available=C.MMSE in available)
except QSPError as exc:
    scenario = None
    st.warning("Fix these before running:")
    show_problems(exc)

enrichment = ss.get("designer_enrichment")
apply_enrichment = False
if enrichment and active is not None:
    st.caption(f"The enrichment rule {enrichment['rule']} comes from ML models trained on the built-in model's patients: "
               "it is not applied to an uploaded model.")
elif enrichment:
    apply_enrichment = st.checkbox(f"Enrol only patients with {enrichment['rule']} (models from the Stratification page)",
                                   value=True, key=P + "apply_enrichment")
if scenario is not None:
    show_validation_warnings([arm.regimen for arm in scenario.arms])
design_yaml = scenario_to_yaml(scenario) if scenario is not None else None
key = key_of([design_yaml, enrichment["rule"] if apply_enrichment else None, model_ref])
plain_key = key_of([design_yaml, None, model_ref])  # the same design, all comers
results = ss[P + "results"]
cached = results.get(key) if scenario is not None else None
c1, c2, c3 = st.columns([1, 1, 2])
run = c1.button("Run trial", type="primary", key=P + "run", disabled=scenario is None or cached is not None,
                help="Fix the design first" if scenario is None else None)
if c2.button("Save scenario", key=P + "save", disabled=scenario is None or not _may_save(),
             help=None if _may_save() else "Sign in first (under Saved scenarios)"):
    try:
        _store().save(scenario)
        ss[P + "message"] = ("success", f"Saved scenario {scenario.name!r} in the database.")
        st.rerun()  # redraw the saved-scenarios list with it
    except QSPError as exc:
        show_problems(exc)
if scenario is not None:
    c3.download_button("Download scenario (YAML)", design_yaml, file_name=f"{scenario.name}.yaml", key=P + "download_yaml")
    if cached is None:
        st.caption(f"Estimated time: about {fmt_seconds(estimate_seconds(scenario, ss.get(P + 'ms_per_patient'), apply_enrichment))} "
                   f"for {patients_to_simulate(scenario):,} patients"
                   + (" (measured on this machine)" if ss.get(P + "ms_per_patient") else " (a first guess until a run is timed)"))

if run:
    ss[P + "run_number"] = number = ss.get(P + "run_number", 0) + 1
    st.button("Cancel", key=P + "cancel", on_click=lambda n=number: ss.update({P + "cancelled": n}))
    bar = st.progress(0.0, text="Simulating patients...")
    started = time.monotonic()
    try:
        settings = PowerSettings(endpoint=endpoint, alpha=alpha, target_power=target, replicates=int(replicates))
        report = lambda f: bar.progress(min(f, 1.0), text=f"Simulating patients... {100 * f:.0f}%")  # noqa: E731
        options = {"executor": D.executor_settings(backend, scheduler), "model": model_of(model_ref),
                   "progress": cancellable(report, lambda: ss.get(P + "cancelled") == number)}
        if apply_enrichment:
            from ml.enrich import enrolment_filter  # lazy: the ML stack loads only when an enrichment is applied

            keep_patient = enrolment_filter(enrichment["models"], enrichment["rule"])
            results[key], results[plain_key] = D.run_enriched_comparison(scenario, settings, keep_patient,
                                                                         all_comers=results.get(plain_key), **options)
        else:
            results[key] = D.run_design(scenario, settings, **options)
    except RunCancelled as exc:
        ss[P + "message"] = ("info", str(exc).capitalize())
        st.rerun()
    except QSPError as exc:
        bar.empty()
        show_problems(exc)
        st.stop()
    seconds = time.monotonic() - started
    if not apply_enrichment:
        ss[P + "ms_per_patient"] = ms_per_patient(scenario, seconds)
    ss[P + "runs"] = keep_run(ss.get(P + "runs", []), KeptRun(number, key, scenario, results[key],
                                                              enrichment["rule"] if apply_enrichment else None, seconds))
    st.rerun()  # redraw with the results (and the run button disabled for this scenario)

show_results(scenario, cached, ss.get(P + "runs", []), results, plain_key, active, model_ref, available)
