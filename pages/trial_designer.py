"""Trial designer: arms, enrolment and design -> virtual trial, endpoints, ARIA-E, power and sample size."""

import json

import pandas as pd
import streamlit as st

from pages._common import (
    active_model_ref,
    cached_library,
    keep,
    key_of,
    model_banner,
    model_of,
    notice,
    remember,
    show_problems,
)
from qsp import constants as C
from qsp.engine.executor import ExecutorSettings
from qsp.errors import QSPError
from qsp.plots.trial import arm_colours, trial_measure_figure
from qsp.store.database import ScenarioStore, database_url
from qsp.trial.endpoints import arm_trajectories
from qsp.trial.power import PowerSettings, power_analysis
from qsp.trial.run import run_trial
from qsp.trial.scenario import parse_scenario, scenario_from_text, scenario_to_yaml

P = "designer_"  # widget-key prefix of this page
SOURCES = ("placebo", "library", "custom")
PHASE_COLUMNS = ["dose", "unit", "every_weeks", "count", "route"]
DEFAULT_ARMS = [
    ("placebo", "placebo", None),
    ("donanemab standard", "library", "donanemab_standard"),
    ("donanemab modified titration", "library", "donanemab_modified_titration"),
    ("lecanemab q2w", "library", "lecanemab_q2w"),
]
MEASURES = ["amyloid_cl_change", "amyloid_cleared_pct", "tau_suvr_change", "iadrs_change", "cdrsb_change", "conc_ug_per_ml", "aria_e_pct"]

st.title("Trial designer")
notice()
active = model_banner()
model_ref = active_model_ref()
available = set(C.OBSERVABLES if active is None else active.available)  # what the model's mapping provides
library = cached_library()
ss = st.session_state


def _default(key: str, value) -> None:
    remember("designer", key, value)


def _init_state():
    _default(P + "name", "my trial")
    _default(P + "seed", 1)
    _default(P + "n_per_arm", 150)
    _default(P + "duration", 76)
    _default(P + "weeks", "24, 52, 76")
    _default(P + "noise", True)
    _default(P + "dropout", 10.0)
    _default(P + "amyloid_min", 37.0)
    _default(P + "amyloid_max", 300.0)
    _default(P + "tau", ["low_medium", "high"])
    _default(P + "mmse", (20, 28))
    _default(P + "age", (60, 85))
    _default(P + "apoe4", [0, 1, 2])
    _default(P + "stage", ["mci", "mild_dementia"])
    _default(P + "n_arms", len(DEFAULT_ARMS))
    _default(P + "results", {})
    for i in range(6):
        name, source, lib = DEFAULT_ARMS[i] if i < len(DEFAULT_ARMS) else (f"arm {i + 1}", "library", "lecanemab_q2w")
        _default(f"{P}arm{i}_name", name)
        _default(f"{P}arm{i}_source", source)
        _default(f"{P}arm{i}_library", lib or "lecanemab_q2w")
        _default(f"{P}arm{i}_drug", "donanemab")
        _default(f"{P}arm{i}_route", "iv")
        _default(f"{P}arm{i}_phases", pd.DataFrame(
            [{"dose": 700.0, "unit": "mg", "every_weeks": 4.0, "count": 3.0, "route": ""},
             {"dose": 1400.0, "unit": "mg", "every_weeks": 4.0, "count": None, "route": ""}], columns=PHASE_COLUMNS))
        _default(f"{P}arm{i}_stop", False)
        _default(f"{P}arm{i}_stop_below", 11.0)
        _default(f"{P}arm{i}_stop_twice", 25.0)
        _default(f"{P}arm{i}_stop_weeks", "24, 52")
    keep("designer")


def _weeks(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise QSPError(f"{field}: write weeks as numbers separated by commas, e.g. 24, 52, 76 (got {text!r})") from None


def _regimen_from_state(i: int):
    source = ss[f"{P}arm{i}_source"]
    if source == "placebo":
        return None
    if source == "library":
        return ss[f"{P}arm{i}_library"]
    phases = []
    for row in ss[f"{P}arm{i}_phases_value"].to_dict("records"):
        if all(pd.isna(row.get(c)) or row.get(c) in ("", None) for c in PHASE_COLUMNS):
            continue
        phase = {"dose": row["dose"], "unit": row["unit"] or "mg", "every_weeks": row["every_weeks"]}
        if not pd.isna(row.get("count")) and row.get("count") not in ("", None):
            phase["count"] = int(row["count"])
        if row.get("route"):
            phase["route"] = row["route"]
        phases.append(phase)
    regimen = {"drug": ss[f"{P}arm{i}_drug"], "route": ss[f"{P}arm{i}_route"], "phases": phases}
    if ss[f"{P}arm{i}_stop"]:
        regimen["stop_rule"] = {"below_cl": ss[f"{P}arm{i}_stop_below"], "twice_below_cl": ss[f"{P}arm{i}_stop_twice"],
                                "at_weeks": _weeks(ss[f"{P}arm{i}_stop_weeks"], f"arms.{i}.regimen.stop_rule.at_weeks")}
    return regimen


def scenario_from_state() -> dict:
    """The scenario the form describes (validated by the core)."""
    arms = []
    for i in range(ss[P + "n_arms"]):
        arm = {"name": ss[f"{P}arm{i}_name"]}
        regimen = _regimen_from_state(i)
        if regimen is not None:
            arm["regimen"] = regimen
        arms.append(arm)
    amyloid_max = ss[P + "amyloid_max"]
    return {
        "name": ss[P + "name"],
        "seed": int(ss[P + "seed"]),
        "n_per_arm": int(ss[P + "n_per_arm"]),
        "duration_weeks": float(ss[P + "duration"]),
        "assess_weeks": _weeks(ss[P + "weeks"], "assess_weeks"),
        "measurement_noise": bool(ss[P + "noise"]),
        "dropout_pct_per_year": float(ss[P + "dropout"]),
        "population": {
            "amyloid_cl": [ss[P + "amyloid_min"], None if amyloid_max >= 300 else amyloid_max],
            "tau": list(ss[P + "tau"]) or None,
            "mmse": list(ss[P + "mmse"]) if C.MMSE in available else None,
            "age": list(ss[P + "age"]),
            "apoe4_copies": list(ss[P + "apoe4"]) or None,
            "stage": list(ss[P + "stage"]) or None,
        },
        "arms": arms,
    }


def load_into_state(scenario) -> None:
    """Callback: put a scenario's values into the widgets (before they are drawn)."""
    ss[P + "name"] = scenario.name
    ss[P + "seed"] = scenario.seed
    ss[P + "n_per_arm"] = scenario.n_per_arm
    ss[P + "duration"] = int(scenario.duration_weeks)
    ss[P + "weeks"] = ", ".join(f"{w:g}" for w in scenario.assess_weeks)
    ss[P + "noise"] = scenario.measurement_noise
    ss[P + "dropout"] = float(scenario.dropout_pct_per_year)
    pop = scenario.population
    ss[P + "amyloid_min"] = float(pop.amyloid_cl[0]) if pop.amyloid_cl and pop.amyloid_cl[0] is not None else -20.0
    ss[P + "amyloid_max"] = float(pop.amyloid_cl[1]) if pop.amyloid_cl and pop.amyloid_cl[1] is not None else 300.0
    ss[P + "tau"] = list(pop.tau or [])
    ss[P + "mmse"] = tuple(int(v) if v is not None else d for v, d in zip(pop.mmse or (0, 30), (0, 30)))
    ss[P + "age"] = tuple(int(v) if v is not None else d for v, d in zip(pop.age or (40, 100), (40, 100)))
    ss[P + "apoe4"] = list(pop.apoe4_copies or [])
    ss[P + "stage"] = list(pop.stage or [])
    ss[P + "n_arms"] = min(len(scenario.arms), 6)
    for i, arm in enumerate(scenario.arms[:6]):
        ss[f"{P}arm{i}_name"] = arm.name
        if arm.regimen is None:
            ss[f"{P}arm{i}_source"] = "placebo"
            continue
        match = next((n for n, r in _library_regimens().items() if r == arm.regimen), None)
        if match:
            ss[f"{P}arm{i}_source"], ss[f"{P}arm{i}_library"] = "library", match
            continue
        reg = arm.regimen
        ss[f"{P}arm{i}_source"] = "custom"
        ss[f"{P}arm{i}_drug"], ss[f"{P}arm{i}_route"] = reg.drug, reg.route
        ss.pop(f"{P}arm{i}_phases_editor", None)  # drop edits made against the previous table
        ss[f"{P}arm{i}_phases"] = pd.DataFrame(
            [{"dose": p.dose, "unit": p.unit, "every_weeks": p.every_weeks, "count": p.count, "route": p.route or ""} for p in reg.phases],
            columns=PHASE_COLUMNS)
        ss[f"{P}arm{i}_stop"] = reg.stop_rule is not None
        if reg.stop_rule:
            ss[f"{P}arm{i}_stop_below"] = reg.stop_rule.below_cl
            ss[f"{P}arm{i}_stop_twice"] = reg.stop_rule.twice_below_cl if reg.stop_rule.twice_below_cl is not None else -50.0
            ss[f"{P}arm{i}_stop_weeks"] = ", ".join(f"{w:g}" for w in reg.stop_rule.at_weeks)


@st.cache_resource(show_spinner=False)
def _library_regimens():
    from qsp.engine.regimen import regimen_library

    return regimen_library()


@st.cache_resource(show_spinner=False)
def _cached_store(url: str):
    return ScenarioStore(url)


def _store():
    return _cached_store(database_url())


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


_init_state()

# ------------------------------------------------------------------ scenario I/O
with st.expander("Saved scenarios (database) and files", expanded=False):
    try:
        names = _store().names()
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
    (st.success if message[0] == "success" else st.error)(message[1])

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

def _admit_everyone() -> None:
    """Callback: widest enrolment criteria (an uploaded model's scales may differ from the built-in model's)."""
    ss.update({P + "amyloid_min": -20.0, P + "amyloid_max": 300.0, P + "tau": [], P + "mmse": (0, 30), P + "age": (40, 100),
               P + "apoe4": [], P + "stage": []})


st.subheader("Enrolment")
st.button("Clear the enrolment criteria", key=P + "clear_criteria", on_click=_admit_everyone,
          help="Admit every simulated patient, whatever their baseline (the criteria are in the built-in model's units).")
c1, c2, c3 = st.columns(3)
c1.number_input("Amyloid PET at least (CL)", -20.0, 200.0, step=1.0, key=P + "amyloid_min")
c2.number_input("Amyloid PET at most (CL; 300 = no limit)", 0.0, 300.0, step=5.0, key=P + "amyloid_max")
c3.multiselect("Tau groups", list(C.TAU_GROUPS), key=P + "tau", help="very_low < 1.10 <= low_medium <= 1.46 < high (SUVr)")
c1, c2 = st.columns(2)
c1.slider("MMSE range", 0, 30, key=P + "mmse", disabled=C.MMSE not in available,
          help=None if C.MMSE in available else "This model does not provide MMSE: no MMSE criterion is applied.")
c2.slider("Age range (years)", 40, 100, key=P + "age")
c1, c2 = st.columns(2)
c1.multiselect("APOE4 copies", [0, 1, 2], key=P + "apoe4")
c2.multiselect("Stages", list(C.STAGES), key=P + "stage")

st.subheader("Arms")
st.number_input("Number of arms (the first is the reference)", 1, 6, key=P + "n_arms")
for i in range(ss[P + "n_arms"]):
    with st.expander(f"Arm {i + 1}: {ss[f'{P}arm{i}_name']}", expanded=i == 0 and False):
        c1, c2 = st.columns(2)
        c1.text_input("Name", key=f"{P}arm{i}_name")
        c2.radio("Regimen", SOURCES, horizontal=True, key=f"{P}arm{i}_source")
        source = ss[f"{P}arm{i}_source"]
        if source == "library":
            st.selectbox("Library regimen", list(library), format_func=lambda n: library[n]["label"], key=f"{P}arm{i}_library")
            st.caption(f"{library[ss[f'{P}arm{i}_library']]['describe']} (source: {library[ss[f'{P}arm{i}_library']]['source']})")
        elif source == "custom":
            c1, c2 = st.columns(2)
            c1.selectbox("Drug", list(C.DRUG_IDS), key=f"{P}arm{i}_drug")
            c2.selectbox("Route", list(C.ROUTES), key=f"{P}arm{i}_route", help="iv: 1-hour infusion; sc: subcutaneous")
            edited = st.data_editor(
                ss[f"{P}arm{i}_phases"], num_rows="dynamic", key=f"{P}arm{i}_phases_editor",
                column_config={
                    "dose": st.column_config.NumberColumn("dose", min_value=0.0, help="per administration"),
                    "unit": st.column_config.SelectboxColumn("unit", options=list(C.DOSE_UNITS)),
                    "every_weeks": st.column_config.NumberColumn("every (weeks)", min_value=0.0),
                    "count": st.column_config.NumberColumn("count", min_value=1, step=1, help="empty: until the end (last phase only)"),
                    "route": st.column_config.SelectboxColumn("route override", options=["", "iv", "sc"]),
                },
            )
            ss[f"{P}arm{i}_phases_value"] = edited
            c1, c2, c3, c4 = st.columns(4)
            c1.checkbox("Stop when cleared", key=f"{P}arm{i}_stop")
            c2.number_input("below (CL) once", -50.0, 200.0, key=f"{P}arm{i}_stop_below")
            c3.number_input("or below (CL) twice", -50.0, 200.0, key=f"{P}arm{i}_stop_twice")
            c4.text_input("at weeks", key=f"{P}arm{i}_stop_weeks")

with st.expander("Analysis for power and sample size", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    endpoint = c1.selectbox("Primary endpoint", [o for o in (C.IADRS, C.CDRSB, C.AMYLOID_CL, C.MMSE) if o in available], format_func=lambda o: C.LABELS[o], key=P + "endpoint")
    alpha = c2.number_input("Two-sided alpha", 0.001, 0.2, 0.05, 0.005, format="%.3f", key=P + "alpha")
    target = c3.number_input("Target power", 0.5, 0.99, 0.8, 0.05, key=P + "target_power")
    replicates = c4.number_input("Replicate trials", 100, 2000, 400, 100, key=P + "replicates")
    st.caption("Change from baseline in the primary endpoint at the last assessment, ANCOVA on baseline "
               "(change ~ arm + baseline), each arm against the first; replicate trials resample the simulated "
               "completers of each arm with replacement. Required size: smallest arm size reaching the target power.")

with st.expander("Where to run (large trials)", expanded=False):
    c1, c2 = st.columns([1, 2])
    backend = c1.radio("Backend", ["this machine", "local Dask cluster", "Dask scheduler"], key=P + "backend",
                       help="Dask runs patients in parallel chunks; the numbers are identical to this machine's")
    scheduler = c2.text_input("Scheduler address (tcp://host:8786)", key=P + "scheduler", disabled=backend != "Dask scheduler")

# ------------------------------------------------------------------ validate + run
try:
    scenario = parse_scenario(scenario_from_state())
except QSPError as exc:
    st.warning("Fix these before running:")
    show_problems(exc)
    st.stop()

enrichment = ss.get("designer_enrichment")
apply_enrichment = False
if enrichment and active is not None:
    st.caption(f"The enrichment rule {enrichment['rule']} comes from ML models trained on the built-in model's patients: "
               "it is not applied to an uploaded model.")
elif enrichment:
    apply_enrichment = st.checkbox(f"Enrol only patients with {enrichment['rule']} (models from the Stratification page)",
                                   value=True, key=P + "apply_enrichment")
key = key_of([scenario_to_yaml(scenario), enrichment["rule"] if apply_enrichment else None, model_ref])
cached = ss[P + "results"].get(key)
c1, c2, c3 = st.columns([1, 1, 2])
run = c1.button("Run trial", type="primary", key=P + "run", disabled=cached is not None)
if c2.button("Save scenario", key=P + "save"):
    try:
        _store().save(scenario)
        ss[P + "message"] = ("success", f"Saved scenario {scenario.name!r} in the database.")
        st.rerun()  # redraw the saved-scenarios list with it
    except QSPError as exc:
        show_problems(exc)
c3.download_button("Download scenario (YAML)", scenario_to_yaml(scenario), file_name=f"{scenario.name}.yaml", key=P + "download_yaml")

if run:
    bar = st.progress(0.0, text="Simulating patients...")
    keep = None
    if apply_enrichment:
        from ml.cli import enrolment_filter

        keep = enrolment_filter(enrichment["models"], enrichment["rule"])
    try:
        executor = ExecutorSettings(
            backend="serial" if backend == "this machine" else "dask",
            scheduler=(scheduler.strip() or None) if backend == "Dask scheduler" else None,
        )
        if backend == "Dask scheduler" and executor.scheduler is None:
            raise QSPError("scheduler: give the Dask scheduler's address, e.g. tcp://host:8786")
        result = run_trial(scenario, enrolment_filter=keep, executor=executor, model=model_of(model_ref),
                           progress=lambda f: bar.progress(min(f, 1.0), text=f"Simulating patients... {100 * f:.0f}%"))
        bar.progress(1.0, text="Estimating power...")
        settings = PowerSettings(endpoint=endpoint, alpha=alpha, target_power=target, replicates=int(replicates))
        power = power_analysis(result, settings)
    except QSPError as exc:
        bar.empty()
        show_problems(exc)
        st.stop()
    cached = ss[P + "results"][key] = {
        "result": result, "power": power, "trajectories": arm_trajectories(result), "settings": settings.model_dump(),
    }
    bar.empty()
    st.rerun()  # redraw with the results (and the run button disabled for this scenario)
if cached is None:
    st.info("Set the design and press **Run trial**. Results are kept per scenario for this session.")
    st.stop()

# ------------------------------------------------------------------ results
result, power, traj = cached["result"], cached["power"], cached["trajectories"]
out = result.to_json()
names = [a.name for a in scenario.arms]
colours = arm_colours(names)
st.subheader("Results")
rows = []
first = names[0]
for name in names:
    arm = out["arms"][name]
    row = {"arm": name, "n": arm["n"], "failed": arm["n_failed"], "completers at end": arm["n_observed"][-1]}
    row.update({f"baseline {k}": v for k, v in arm["baseline"].items()})
    row.update({"amyloid change (CL)": arm["amyloid_cl_change"][-1], "cleared %": arm["amyloid_cleared_pct"][-1],
                "iADRS change": arm["iadrs_change"][-1], "CDR-SB change": arm["cdrsb_change"][-1],
                "ARIA-E %": arm["aria_e_pct"][-1]})
    row.update({f"ARIA-E % APOE4={g}": arm["aria_e_pct_by_apoe4"][g][-1] for g in ("0", "1", "2")})
    comp = out["comparisons"].get(f"{name} vs {first}")
    row["iADRS slowing %"] = comp["iadrs_slowing_pct"][-1] if comp else None
    row["CDR-SB slowing %"] = comp["cdrsb_slowing_pct"][-1] if comp else None
    rows.append(row)
summary_table = pd.DataFrame(rows)
if active is not None:  # an uploaded model: drop what its mapping does not provide, and APOE4 groups it cannot tell apart
    summary_table = summary_table.dropna(axis=1, how="all")
    if "apoe4_copies" not in (active.mapping.covariates if active.mapping else {}):
        summary_table = summary_table.drop(columns=[c for c in summary_table if c.startswith("ARIA-E % APOE4")])
st.dataframe(summary_table.round(2), hide_index=True, key=P + "summary_table")
st.caption(f"At week {scenario.assess_weeks[-1]:g}. Slowing % = 100 x (1 - change in arm / change in {first}).")
if result.provenance.get("enrichment"):
    e = result.provenance["enrichment"]
    st.info(f"Enriched enrolment: {e['screened']} patients screened for {e['enrolled']} enrolled "
            f"({e['screen_per_enrolled']:.1f} screened per enrolled patient).")
    plain_key = key_of([scenario_to_yaml(scenario), None, model_ref])
    plain = ss[P + "results"].get(plain_key)
    if plain is None:
        with st.spinner("Running the same design without enrichment for comparison..."):
            plain_result = run_trial(scenario, model=model_of(model_ref))
            plain = ss[P + "results"][plain_key] = {
                "result": plain_result, "trajectories": arm_trajectories(plain_result), "settings": cached["settings"],
                "power": power_analysis(plain_result, PowerSettings(**cached["settings"])),
            }
    if not power.empty and not plain["power"].empty:
        both = power.set_index("comparison")[["effect", "power", "required_n_per_arm"]].join(
            plain["power"].set_index("comparison")[["effect", "power", "required_n_per_arm"]], lsuffix=" (enriched)", rsuffix=" (all comers)")
        both["screened per enrolled"] = e["screen_per_enrolled"]
        st.subheader("Enrichment against all-comers enrolment")
        st.dataframe(both.round(3).reset_index(), hide_index=True, key=P + "enrichment_table")

if not power.empty:
    st.subheader("Power and sample size")
    shown = power.rename(columns={"effect": "effect (difference in mean change)", "n_pool": "simulated completers per arm",
                                  "n_per_arm": "arm size", "power": "power", "required_n_per_arm": f"arm size for {cached['settings']['target_power']:.0%} power"})
    st.dataframe(shown.round(3), hide_index=True, key=P + "power_table")

MEASURE_NEEDS = {"amyloid_cl_change": C.AMYLOID_CL, "amyloid_cleared_pct": C.AMYLOID_CL, "tau_suvr_change": C.TAU_SUVR,
                 "iadrs_change": C.IADRS, "cdrsb_change": C.CDRSB, "conc_ug_per_ml": C.CONC_UG_PER_ML, "aria_e_pct": C.ARIA_E_RISK}
cols = st.columns(2)
for k, measure in enumerate(m for m in MEASURES if MEASURE_NEEDS[m] in available):  # no empty charts for an uploaded model
    cols[k % 2].plotly_chart(trial_measure_figure(traj, measure, colours), key=f"{P}chart_{measure}")

result_json = {**out, "power": power.to_dict("records"), "power_settings": cached["settings"]}
c1, c2, c3 = st.columns(3)
c1.download_button("Results (JSON with provenance)", json.dumps(result_json, indent=1, default=str), file_name=f"{scenario.name}_result.json", key=P + "download_json")
c2.download_button("Endpoints by week (CSV)", traj.to_csv(index=False), file_name=f"{scenario.name}_endpoints.csv", key=P + "download_csv")
c3.download_button("Virtual patients' records (CSV)", result.records.to_csv(index=False), file_name=f"{scenario.name}_records.csv", key=P + "download_records")
