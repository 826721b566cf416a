"""Diff between two versions of a model."""

import pandas as pd

from qsp.engine.model import Model, antimony_to_sbml
from qsp.lab.model_lab import DIFF_COLUMNS, change_counts, diff_models, rangeable_parameters

OLD = antimony_to_sbml("""
model m
  compartment c = 1
  species A in c = 10, B in c = 0
  r1: A -> B; k*A
  r2: B -> ; kb*B
  y := A + B
  at time > 5: A = 1
  k = 0.5; kb = 0.1; gone = 3
end""")
NEW = antimony_to_sbml("""
model m
  compartment c = 1
  species A in c = 10, B in c = 0, C in c = 1
  r1: A -> B; k*A*C
  y := A + 2*B
  k = 0.7; kb = 0.1; fresh = 2
end""")


def test_diff_lists_added_removed_and_changed_components():
    diff = diff_models(OLD, NEW)
    assert list(diff.columns) == DIFF_COLUMNS
    got = {(r.kind, r.id, r.change, r.field) for r in diff.itertuples()}
    assert got == {
        ("species", "C", "added", ""),
        ("parameter", "k", "changed", "value"),
        ("parameter", "gone", "removed", ""),
        ("parameter", "fresh", "added", ""),
        ("reaction", "r1", "changed", "rate law"),
        ("reaction", "r2", "removed", ""),
        ("rule", "y assignment", "changed", "math"),
        ("event", "_E0", "removed", ""),
    }
    k = diff[diff["id"] == "k"].iloc[0]
    assert (k.old, k.new) == ("0.5", "0.7")


def test_a_model_has_no_diff_with_itself_and_diff_is_symmetric():
    assert diff_models(OLD, OLD).empty
    back = diff_models(NEW, OLD)
    forward = diff_models(OLD, NEW)
    flip = {"added": "removed", "removed": "added", "changed": "changed"}
    assert sorted((r.kind, r.id, flip[r.change]) for r in back.itertuples()) == sorted((r.kind, r.id, r.change) for r in forward.itertuples())


def test_repeated_dosing_matches_superposed_exponential_decays():
    import math

    import pytest

    from qsp.engine.model import Model, antimony_to_sbml
    from qsp.errors import InvalidInput
    from qsp.lab.model_lab import simulate_lab, with_repeated_dosing

    decay = Model(antimony_to_sbml("compartment c = 2; species A in c; A = 0; J: A -> ; k*A*c; k = 0.5"))
    dosed = with_repeated_dosing(decay, "A", amount=10.0, every=1.0, count=3, start=0.5)
    for _ in range(2):  # the dosing state is restored between runs
        result = simulate_lab(dosed, 5.0, 11, ("A",))
        for t, value in zip(result["time"], result["A"]):
            expected = sum(10.0 * math.exp(-0.5 * (t - d)) for d in (0.5, 1.5, 2.5) if d <= t + 1e-9)  # amounts
            assert value == pytest.approx(expected, rel=1e-4, abs=1e-6)
    with pytest.raises(InvalidInput, match="dosing.species: 'B' is not a species"):
        with_repeated_dosing(decay, "B", 1.0, 1.0, 1)
    with pytest.raises(InvalidInput, match="dosing.count"):
        with_repeated_dosing(decay, "A", 1.0, 1.0, 0)


def test_change_counts_count_components_not_fields():
    diff = diff_models(OLD, NEW)
    counts = change_counts(diff)
    expected = diff.groupby("change")["id"].apply(lambda ids: len(set(zip(diff.loc[ids.index, "kind"], ids))))
    assert counts.to_dict() == expected.to_dict()
    several = pd.DataFrame([{"kind": "reaction", "id": "r1", "change": "changed", "field": f} for f in ("rate law", "reactants")],
                           columns=DIFF_COLUMNS)
    assert change_counts(several).to_dict() == {"changed": 1}  # one component, two changed fields
    assert change_counts(diff_models(OLD, OLD)).empty


def test_only_finite_nonzero_parameters_have_a_relative_range():
    model = Model(antimony_to_sbml("A -> ; k*A; A = 10; k = 0.5; z = 0; big = 1e308 * 10"))
    assert rangeable_parameters(model) == ["k"]
