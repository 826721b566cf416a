"""The lab's mapping form and mapping files as data; readiness keyed by use id."""

import pytest
import yaml

from qsp import paths
from qsp.engine.model import Model, load_builtin_model
from qsp.engine.observables import CAPABILITIES, capabilities, capability_reasons, parse_mapping
from qsp.errors import InvalidInput
from qsp.lab import mapping_form as MF
from qsp.lab.adapt import MAX_MAPPING_BYTES, provides_dashboard_ids

EXAMPLES = paths.ROOT / "models_sbml" / "examples"
MINI = Model((EXAMPLES / "mini_ad.xml").read_text(encoding="utf-8"), name="mini")
STATE = {"amyloid_cl": {"id": "Abeta"}, "tau_suvr": {"id": "Tau"}, "cdrsb": {"id": "Sev"}}


# ------------------------------------------------------------------ form -> mapping


@pytest.mark.parametrize(("unit", "scale"), [("day", 1.0), ("week", 1 / 7), ("hour", 24.0), ("year", 1 / 365.25)])
def test_hazard_per_model_time_unit_becomes_per_day(unit, scale):
    data = MF.mapping_data_from_form({}, hazard="h", time_unit=unit)
    assert data["aria_e_hazard_per_day"] == {"id": "h", "scale": pytest.approx(scale)}
    assert parse_mapping(data).aria_e_hazard_per_day.scale == pytest.approx(scale)


def test_unknown_time_unit_is_refused():
    with pytest.raises(InvalidInput, match="mapping.time_unit: one of second, minute"):
        MF.hazard_link("h", "fortnight")


def test_form_without_optional_parts_maps_only_the_observables():
    data = MF.mapping_data_from_form(STATE, time_unit="week")
    assert data == {"observables": STATE, "time_unit": "week"}
    full = MF.mapping_data_from_form(STATE, dose="Drug", dose_scale=2.0, covariates={"weight_kg": "BW"})
    assert full["dose_target"] == {"id": "Drug", "scale": 2.0} and full["covariates"] == {"weight_kg": "BW"}


# ------------------------------------------------------------------ uploaded files


def test_an_uploaded_file_reads_like_the_command_lines():
    text = yaml.safe_dump({"observables": {"amyloid_cl": "Abeta"}, "time_unit": "week"})
    mapping = MF.mapping_from_upload(text.encode())
    assert mapping.observables["amyloid_cl"].id == "Abeta" and mapping.time_unit == "week"
    assert MF.mapping_from_upload(b'{"observables": {"cdrsb": "Sev"}}').observables["cdrsb"].id == "Sev"  # JSON


@pytest.mark.parametrize(("content", "message"), [
    (b"x" * (MAX_MAPPING_BYTES + 1), f"mapping: file is {MAX_MAPPING_BYTES + 1:,} bytes, limit {MAX_MAPPING_BYTES:,} bytes"),
    (b"\xff\xfe", "mapping: m.yaml is not UTF-8 text"),
    (b"observables: [unclosed", "mapping: not valid YAML/JSON"),
    (b"", "mapping: m.yaml is empty"),
    (b"- a list", "mapping: expected a mapping"),
    (b"observables: {nonsense: X}", "mapping.observables.nonsense"),
], ids=["too-large", "not-utf8", "bad-yaml", "empty", "a-list", "unknown-observable"])
def test_bad_uploads_say_what_is_wrong(content, message):
    with pytest.raises(InvalidInput, match=message.replace(".", r"\.").replace("[", r"\[")):
        MF.mapping_from_upload(content, "m.yaml")


# ------------------------------------------------------------------ readiness by use id


def test_uses_are_keyed_by_id_and_labelled_as_before():
    mapping = parse_mapping({"observables": {"tau_suvr": "T"}})
    reasons = capability_reasons(mapping)
    assert list(reasons) == list(CAPABILITIES)
    assert "amyloid_cl" in reasons[MF.UNTREATED_USE]
    assert capabilities(mapping) == {CAPABILITIES[k]: v for k, v in reasons.items()}


def test_readiness_table_and_the_hand_over_rule():
    unmapped = parse_mapping({})
    reasons = MF.use_reasons(unmapped, native=False)
    table = MF.readiness_table(reasons)
    assert list(table["dashboard use"]) == list(CAPABILITIES.values())
    assert table["status"].str.startswith("unavailable").all()
    assert not MF.ready_for_dashboard([], reasons)
    mapped = MF.use_reasons(parse_mapping({"observables": STATE}), native=False)
    assert mapped[MF.UNTREATED_USE] is None and mapped["treatment"] == "map a dose target species"
    assert MF.ready_for_dashboard([], mapped)
    assert not MF.ready_for_dashboard(["observables.amyloid_cl: no such id"], mapped)


def test_a_native_model_runs_unmapped():
    builtin = load_builtin_model()
    assert provides_dashboard_ids(builtin)
    empty = parse_mapping({})
    assert not MF.uses_own_mapping(empty, native=True)
    assert set(MF.use_reasons(empty, native=True).values()) == {None}
    assert MF.handed_over_mapping(empty, native=True) is None
    assert MF.mapping_problems(builtin.sbml, empty, native=True) == []


def test_a_mapped_model_is_checked_and_handed_over_as_json():
    mapping = parse_mapping({"observables": STATE, "dose_target": "Drug", "time_unit": "week"})
    assert MF.mapping_problems(MINI.sbml, mapping, native=False) == []
    bad = parse_mapping({"observables": {"amyloid_cl": "NoSuchId"}})
    assert MF.mapping_problems(MINI.sbml, bad, native=False)  # the model has no such id
    handed = MF.handed_over_mapping(mapping, native=False)
    assert parse_mapping(handed) == mapping and handed["time_unit"] == "week"


def test_yaml_download_reads_back():
    mapping = parse_mapping({"observables": STATE, "time_unit": "week"})
    text = MF.mapping_yaml(mapping)
    assert "scale: 1.0" not in text  # defaults left out
    assert MF.mapping_from_upload(text.encode()) == mapping
