"""Variance shares of the QSP -> ML prediction intervals."""

import numpy as np
import pandas as pd
import pytest

from ml.uncertainty import predict_with_uncertainty, qsp_variance_share


class Constant:
    """An ensemble member predicting the same probability for every patient."""

    def __init__(self, p):
        self.p = p

    def predict_proba(self, frame):
        return np.column_stack([np.full(len(frame), 1 - self.p), np.full(len(frame), self.p)])


def test_share_follows_the_law_of_total_variance():
    grid = [[Constant(0.2), Constant(0.4)], [Constant(0.6), Constant(0.8)]]  # draws x bootstraps
    bands = predict_with_uncertainty(grid, ["x"], pd.DataFrame({"x": [1.0, 2.0]}))
    # across draws: means 0.3 and 0.7 -> 0.04; within draws: 0.01; total: 0.05
    np.testing.assert_allclose(qsp_variance_share(bands), [0.8, 0.8])


def test_no_variance_gives_no_share():
    grid = [[Constant(0.5), Constant(0.5)], [Constant(0.5), Constant(0.5)]]
    share = qsp_variance_share(predict_with_uncertainty(grid, ["x"], pd.DataFrame({"x": [1.0]})))
    assert np.isnan(share).all()


def test_share_is_per_patient():
    share = qsp_variance_share(pd.DataFrame({"var_qsp_parameters": [0.0, 0.03, 0.02], "var_total": [0.01, 0.04, 0.02]}))
    assert share.tolist() == pytest.approx([0.0, 0.75, 1.0])
