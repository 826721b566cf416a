"""Power by resampling: type I error near alpha, ANCOVA p-values right, power grows with n."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qsp.trial.power import PowerSettings, ancova_p_values, resampled_power


def test_ancova_p_value_matches_an_independent_ols():
    rng = np.random.default_rng(0)
    n = 60
    baseline = rng.normal(100, 10, 2 * n)
    treated = np.r_[np.zeros(n), np.ones(n)]
    change = -10 + 0.1 * baseline + 3 * treated + rng.normal(0, 5, 2 * n)
    p = ancova_p_values(change[None], baseline[None], treated[None])[0]
    x = np.column_stack([np.ones(2 * n), treated, baseline])
    beta, res, *_ = np.linalg.lstsq(x, change, rcond=None)
    sigma2 = res[0] / (2 * n - 3)
    se = np.sqrt(sigma2 * np.linalg.inv(x.T @ x)[1, 1])
    assert p == pytest.approx(2 * stats.t.sf(abs(beta[1] / se), 2 * n - 3), rel=1e-9)


def _pool(effect, n=400, seed=1):
    rng = np.random.default_rng(seed)
    base = rng.normal(100, 10, n)
    return pd.DataFrame({"baseline": base, "change": -10 + 0.2 * (base - 100) + effect + rng.normal(0, 6, n)})


def test_no_effect_gives_type_one_error_near_alpha():
    settings = PowerSettings(replicates=2000)
    power = resampled_power(_pool(0.0, seed=1), _pool(0.0, seed=2), 100, settings, np.random.default_rng(3))
    assert 0.02 < power < 0.09


def test_power_grows_with_arm_size_and_matches_the_normal_approximation():
    settings = PowerSettings(replicates=1000)
    ref, trt = _pool(0.0, 2000, 1), _pool(2.0, 2000, 2)
    rng = np.random.default_rng(5)
    small, large = resampled_power(ref, trt, 30, settings, rng), resampled_power(ref, trt, 150, settings, rng)
    assert small < large
    # ANCOVA residual SD is 6: power at n=150 by the normal approximation
    z = 2.0 / (6 * np.sqrt(2 / 150)) - stats.norm.ppf(0.975)
    assert large == pytest.approx(stats.norm.cdf(z), abs=0.06)


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="alpha"):
        PowerSettings(alpha=0.9)
    with pytest.raises(ValueError, match="endpoint"):
        PowerSettings(endpoint="weight")
