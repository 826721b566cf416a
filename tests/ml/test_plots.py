"""ML figures show the data they are given."""

import pandas as pd

from ml import plots

CURVES = {"roc": {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]}, "pr": {"recall": [1, 0.5], "precision": [0.4, 0.9]},
          "calibration": {"predicted": [0.1, 0.6], "observed": [0.2, 0.5]}}


def test_validation_curves():
    roc = plots.roc_figure(CURVES, 0.834)
    assert list(roc.data[0].y) == [0, 0.8, 1] and roc.data[1].name == "chance"
    assert roc.layout.title.text == "ROC (AUC 0.83)"
    assert list(plots.precision_recall_figure(CURVES).data[0].x) == [1, 0.5]
    cal = plots.calibration_figure(CURVES)
    assert list(cal.data[0].y) == [0.2, 0.5] and cal.data[1].name == "perfect"


def test_bars_keep_the_order_and_name_the_patient():
    imp = plots.importance_figure(pd.Series([0.7, 0.3], index=["tau_suvr", "age"]))
    assert list(imp.data[0].y) == ["tau_suvr", "age"] and list(imp.data[0].x) == [0.7, 0.3]
    contrib = plots.contributions_figure(pd.Series([-0.2, 0.5], index=["age", "cdrsb"]), "P-7")
    assert "P-7" in contrib.layout.title.text and list(contrib.data[0].x) == [-0.2, 0.5]
