"""The compiled right-hand side of the batch integrator: the same rates as the numpy one, safe fallbacks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from qsp.engine import kernel
from qsp.engine.batch import _KERNEL_ROWS, BatchModel, compile_batch
from qsp.engine.model import antimony_to_sbml, load_builtin_model
from qsp.engine.regimen import parse_regimen
from qsp.engine.simulate import Engine
from qsp.paths import ROOT
from qsp.population.sampling import sample_population

from .test_batch import GENERIC, POWERS


def _module_name(rates_source: str) -> str:
    """The module name a kernel is loaded under (a kernel is loaded once per process: tests unload it first)."""
    return f"qsp_kernel_{hashlib.sha256(kernel.KernelSource(rates_source).source.encode()).hexdigest()[:20]}"


def _random_state(batch, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = np.maximum(np.abs(batch.initial), 1.0)[:, None]
    return scale * rng.uniform(0.0, 2.0, (len(batch.initial), n))


@pytest.mark.parametrize("regimen", ["lecanemab_q2w", "donanemab_standard", None])
def test_the_compiled_rates_equal_the_numpy_rates_of_the_built_in_model(regimen):
    model = load_builtin_model()
    batch = compile_batch(model.sbml)
    assert batch.kernel() is not None, "numba is in requirements.txt: the kernel must compile"
    engine = Engine(model)
    patients = sample_population(50, {"amyloid_cl": [37, None]}, seed=5).to_dict("records")
    reg = parse_regimen(regimen) if regimen else None
    columns = [engine._patient_values(p, reg, None) for p in patients]
    P = batch.prepare({k: np.array([c[k] for c in columns]) for k in columns[0]}, len(patients))
    y = _random_state(batch, len(patients), 1)
    compiled = batch.rates(3.0, y, P)
    numpy_only = batch.rates(3.0, y, {k: v for k, v in P.items() if k != _KERNEL_ROWS})
    np.testing.assert_allclose(compiled, numpy_only, rtol=1e-13, atol=1e-300)
    assert np.isfinite(compiled).all()


def test_the_compiled_rates_of_a_generic_model_follow_its_piecewise_and_powers():
    batch = BatchModel(antimony_to_sbml(GENERIC))
    assert batch.kernel() is not None
    P = batch.prepare({"dose": np.array([0.0, 2.0, 5.0])}, 3)  # dose > 1 switches the piecewise term
    y = _random_state(batch, 3, 2)
    np.testing.assert_allclose(batch.rates(0.0, y, P), batch._numpy_rates(0.0, y, P), rtol=1e-13)


def test_the_compiled_rates_follow_negative_bases_integer_powers_minimum_maximum_and_not():
    batch = BatchModel(antimony_to_sbml(POWERS))
    assert batch.kernel() is not None and "_pow(" in batch.kernel()[1].source.split("def rates")[1]  # B^3, B^4
    P = batch.prepare({"k": np.array([1.0, 2.0, 0.5])}, 3)
    y = _random_state(batch, 3, 3) * 4  # A on both sides of 5 (the piecewise), B on both sides of 1 (the minimum)
    np.testing.assert_allclose(batch.rates(0.0, y, P), batch._numpy_rates(0.0, y, P), rtol=1e-13)


def test_source_with_anything_but_whitelisted_math_is_not_compiled():
    bad = "def _rates(t, y, P):\n    _t0 = __import__('os').system('true')\n    dy = np.empty((1, y.shape[1]))\n    dy[0] = _t0\n    return dy"
    with pytest.raises(ValueError, match="cannot compile"):
        kernel.KernelSource(bad)
    assert kernel.compile_kernel(bad, 1, 1) is None  # the caller keeps the numpy right-hand side


def test_without_a_writable_cache_the_kernel_is_compiled_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    source = BatchModel(antimony_to_sbml(GENERIC))._rates_source
    for value in ("off", str(blocker / "kernels")):
        monkeypatch.setenv("QSP_KERNEL_DIR", value)
        sys.modules.pop(_module_name(source), None)
        compiled = kernel.compile_kernel(source, 3, 4)
        assert compiled is not None
    assert not (blocker / "kernels").exists() and blocker.read_text() == "not a directory"


def test_a_cache_others_may_write_in_is_not_used(tmp_path, monkeypatch):
    """Numba's cache files are pickles: a folder another user can write in could plant code, so it is not used."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("QSP_KERNEL_DIR", str(shared))
    source = BatchModel(antimony_to_sbml(GENERIC))._rates_source
    sys.modules.pop(_module_name(source), None)  # not loaded yet in this process
    assert kernel.compile_kernel(source, 3, 4) is not None  # compiled in memory
    assert list(shared.iterdir()) == []


def test_a_cached_file_that_differs_from_the_source_is_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("QSP_KERNEL_DIR", str(tmp_path))
    source = BatchModel(antimony_to_sbml(GENERIC))._rates_source
    name = _module_name(source)
    sys.modules.pop(name, None)
    (tmp_path / f"{name}.py").write_text("raise SystemExit('planted')\n")
    assert kernel.compile_kernel(source, 3, 4) is not None
    assert "planted" not in (tmp_path / f"{name}.py").read_text()


def test_a_new_process_loads_the_cached_kernel_instead_of_compiling(tmp_path):
    script = (
        "import time, numba\n"
        "from qsp.engine.batch import compile_batch\n"
        "from qsp.engine.model import load_builtin_model\n"
        "b = compile_batch(load_builtin_model().sbml)\n"
        "b.kernel()\n"
        "print(b.kernel()[0].stats.cache_hits.most_common(1)[0][1] if b.kernel()[0].stats.cache_hits else 0)\n"
    )
    env = {**os.environ, "QSP_KERNEL_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    second = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == "0" and second.stdout.strip() == "1"
    assert list(tmp_path.glob("qsp_kernel_*.py")) and list(tmp_path.glob("__pycache__/*.nbi"))


def test_a_trial_records_which_right_hand_side_integrated_its_treated_arms(monkeypatch):
    from qsp.engine import batch as batch_module
    from qsp.provenance.rerun import rerun
    from qsp.trial.run import BATCH_MIN_PER_ARM, run_trial

    scenario = {"name": "rhs", "seed": 3, "n_per_arm": BATCH_MIN_PER_ARM, "duration_weeks": 12, "assess_weeks": [12],
                "arms": [{"name": "placebo"}, {"name": "lecanemab", "regimen": "lecanemab_q2w"}]}
    result = run_trial(scenario).to_json()
    assert result["provenance"]["batch_right_hand_side"] == ["numba kernel"]
    assert run_trial({**scenario, "n_per_arm": 5}).provenance["batch_right_hand_side"] == []  # small arms: roadrunner

    # a process where numba is missing integrates with numpy: the record says so, and a re-run whose numbers
    # differ names the cause
    monkeypatch.setattr(batch_module, "compile_kernel", lambda *_: None)
    batch_module.compile_batch.cache_clear()
    try:
        numpy_result = run_trial(scenario).to_json()
        assert numpy_result["provenance"]["batch_right_hand_side"] == ["numpy"]
        tampered = {**result, "arms": {**result["arms"], "lecanemab": {**result["arms"]["lecanemab"], "n": -1}}}
        _, diffs = rerun(tampered)
    finally:
        batch_module.compile_batch.cache_clear()
    assert any("numba kernel then and numpy now" in d for d in diffs), diffs
