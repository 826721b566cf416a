"""ANCOVA differences and their intervals behave as the statistics say; the composition counts every group."""

import numpy as np
import pandas as pd

from qsp.trial.analysis import ancova_difference, baseline_distribution


def test_ancova_interval_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(300):
        base = rng.normal(100, 10, 80)
        change = -4 + 0.3 * (base - 100) + rng.normal(0, 3, 80)
        change[40:] += 1.5  # the true treatment effect
        _, (lo, hi) = ancova_difference(change[:40], base[:40], change[40:], base[40:])
        hits += lo < 1.5 < hi
    assert 0.91 <= hits / 300 <= 0.985


def test_adjusting_for_baseline_narrows_the_interval_and_removes_imbalance():
    rng = np.random.default_rng(5)
    base_ref, base_arm = rng.normal(95, 5, 200), rng.normal(105, 5, 200)  # imbalanced baselines
    change_ref = 0.5 * (base_ref - 100) + rng.normal(0, 1, 200)
    change_arm = 0.5 * (base_arm - 100) + rng.normal(0, 1, 200)  # no treatment effect
    diff, (lo, hi) = ancova_difference(change_ref, base_ref, change_arm, base_arm)
    assert abs(diff) < 0.3 and lo < 0 < hi
    assert change_arm.mean() - change_ref.mean() > 4  # the unadjusted difference is all imbalance


def test_too_few_patients_or_missing_values_give_no_estimate():
    assert ancova_difference(np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == (None, None)
    change = np.array([1.0, np.nan, 2.0, 3.0, np.nan])
    base = np.array([10.0, 11.0, 12.0, np.nan, 13.0])
    assert ancova_difference(change, base, change + 1, base) == (None, None)  # two usable rows per arm


def test_baseline_distribution_has_every_key_even_for_absent_groups():
    frame = pd.DataFrame({"tau_group": ["high"] * 3 + ["low_medium"], "stage": ["mci"] * 4, "apoe4_copies": [0, 1, 1, 2],
                          "sex": ["F", "F", "M", "M"], "amyloid_cl": [40.0, 60.0, 80.0, 100.0], "age": [70, 71, 72, 73]})
    d = baseline_distribution(frame)
    assert d["pct"]["tau_group"] == {"very_low": 0.0, "low_medium": 25.0, "high": 75.0}
    assert d["pct"]["stage"]["mild_dementia"] == 0.0 and d["pct"]["apoe4_copies"]["1"] == 50.0
    assert d["quantiles"]["amyloid_cl"]["p50"] == 70.0
    assert set(d["quantiles"]) == {"amyloid_cl", "tau_suvr", "iadrs", "cdrsb", "mmse", "age", "years_since_amyloid_positive"}
    assert baseline_distribution(frame.iloc[:0])["pct"]["female"] == 0.0
