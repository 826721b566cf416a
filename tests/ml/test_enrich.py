"""Enrichment rules: parsing, and the enrolment filter's comparison on a model's probabilities."""

import numpy as np
import pandas as pd
import pytest

from ml import cli
from ml.enrich import enrolment_filter, parse_rule
from qsp.errors import InvalidInput


class FixedModel:
    """Predicts the candidates' column ``p``; remembers the frame it saw."""

    def predict(self, frame):
        self.seen = frame
        return frame["p"].to_numpy()


CANDIDATES = pd.DataFrame({"p": [0.2, 0.5, 0.8], "sex": ["F", "M", "F"]})


def test_rules_parse_with_spaces_and_every_operator():
    assert parse_rule(" progression > 0.5 ") == ("progression", ">", 0.5)
    assert parse_rule("responder>=.4") == ("responder", ">=", 0.4)
    assert parse_rule("aria<0.2") == ("aria", "<", 0.2)
    assert parse_rule("aria<=1") == ("aria", "<=", 1.0)


@pytest.mark.parametrize(("text", "message"), [
    ("fast people", "expected TASK OP P"), ("", "expected TASK OP P"), (None, "expected TASK OP P"),
    ("progression=0.5", "expected TASK OP P"), ("progression>3", r"probability in \[0, 1\] \(got 3.0\)"),
])
def test_bad_rules_say_what_is_expected(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_rule(text)


@pytest.mark.parametrize(("rule", "expected"), [
    ("progression>0.5", [False, False, True]), ("progression>=0.5", [False, True, True]),
    ("progression<0.5", [True, False, False]), ("progression<=0.5", [True, True, False]),
])
def test_the_filter_compares_the_models_probability(rule, expected):
    model = FixedModel()
    keep = enrolment_filter({"progression": model}, rule)
    np.testing.assert_array_equal(keep(CANDIDATES), expected)
    assert model.seen["is_female"].tolist() == [1, 0, 1]  # the models' feature, from sex


def test_the_filter_uses_the_rules_task():
    keep = enrolment_filter({"progression": FixedModel(), "responder": type("Never", (), {"predict": lambda self, f: np.zeros(len(f))})()},
                            "responder>0.1")
    assert not keep(CANDIDATES).any()


def test_a_rule_for_a_missing_model_is_refused():
    with pytest.raises(InvalidInput, match="no 'aria' model"):
        enrolment_filter({"progression": FixedModel()}, "aria<0.2")


def test_the_cli_uses_the_same_rule_parser():
    assert cli.parse_rule is parse_rule and cli.enrolment_filter is enrolment_filter


def test_enrichment_refuses_a_model_that_failed_its_audit():
    """Issue 14: a model no better than its shuffled-label twin must not pick patients."""
    from ml.models import LoadedModel

    failed = LoadedModel("responder", ("age",), booster=None, metrics={"auc": 0.38, "auc_shuffled": 0.53})
    with pytest.raises(InvalidInput, match=r"--enrich: the responder model failed its audit \(held-out AUC 0.38"):
        enrolment_filter({"responder": failed}, "responder>0.5")
