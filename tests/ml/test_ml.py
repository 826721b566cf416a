"""ML: leakage guard, shuffle check, reproducibility, bias audit, uncertainty, enrichment, messy CSVs."""

import numpy as np
import pandas as pd
import pytest

from ml.cli import enrolment_filter, main, parse_rule
from ml.cohort import CohortSettings, simulate_cohort
from ml.data import baseline_rows, read_patients
from ml.models import TASKS, check_no_leakage, composition_audit, grouped_split, load_models, save_models, train_task
from qsp import constants as C
from qsp import paths
from qsp.errors import InvalidInput


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(CohortSettings(n=400, seed=3))  # 300: R² on ~75 test patients too noisy to compare with the shuffle


@pytest.fixture(scope="module")
def models(cohort):
    return {task: train_task(cohort, task, seed=3) for task in TASKS}


def test_aria_is_learned_from_the_simulated_risk_not_only_the_drawn_events(cohort):
    """ARIA-E events are Bernoulli draws (about 20%) from a risk the simulation knows: trained on that risk, the
    model ranks a fresh cohort's true risks far better than one trained on the events alone, and its audit uses
    the expected held-out AUC (the AUC on ~20 drawn test events is mostly noise)."""
    from scipy.stats import spearmanr

    from ml.models import fit_classifier

    fresh = simulate_cohort(CohortSettings(n=400, seed=8))
    soft = train_task(cohort, "aria", seed=3)
    events_only = fit_classifier(cohort.drop(columns=["aria_e_risk"]), "aria", seed=3)
    features = list(soft.features)
    rho_soft = spearmanr(soft.predict(fresh), fresh["aria_e_risk"]).correlation
    rho_events = spearmanr(events_only.predict_proba(fresh[features])[:, 1], fresh["aria_e_risk"]).correlation
    assert rho_soft > 0.7 and rho_soft > rho_events + 0.2, (rho_soft, rho_events)
    m = soft.metrics
    assert m["auc_basis"] == f"expected from the simulated risk ({C.LABELS[C.ARIA_E_RISK]})" and "auc_events" in m and m["audit_passed"], m.get("audit_failure")
    assert abs(m["auc_shuffled"] - 0.5) < 0.1


def test_subgroup_aucs_are_the_expected_ones_when_the_risk_is_known():
    from ml.models import expected_auc, subgroup_audit

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"age": rng.uniform(60, 85, 80), "is_female": rng.integers(0, 2, 80), "apoe4_copies": rng.integers(0, 3, 80)})
    risk = rng.uniform(0.05, 0.6, 80)
    p = np.clip(risk + rng.normal(0, 0.1, 80), 0.0, 1.0)
    y = (rng.random(80) < risk).astype(int)
    groups = subgroup_audit(frame, y, p, risk)["groups"]["apoe4_copies"]
    for copies in ("0", "1", "2"):
        mask = (frame["apoe4_copies"] == int(copies)).to_numpy()
        assert groups[copies]["auc"] == pytest.approx(expected_auc(risk[mask], p[mask]))


def test_cohort_has_counterfactual_labels_and_baseline_features(cohort):
    assert {"fast_progressor", "responder", "aria_e_event", "benefit_iadrs", "conc_week12_ug_per_ml"} <= set(cohort.columns)
    assert cohort["patient_id"].is_unique
    assert cohort["benefit_iadrs"].mean() > 0  # treatment helps on average
    assert cohort["iadrs_change"].mean() < 0  # untreated patients decline


def test_models_learn_and_the_shuffle_check_drops_to_chance(models):
    for task in ("progression", "responder"):
        m = models[task].metrics
        # since the issue-13 recalibration much of a patient's rate of decline is their own (eta_clin, not
        # predictable from baseline): held-out AUC is about 0.6-0.7, still well clear of the shuffled ~0.5
        assert m["auc"] > 0.6 and m["auc"] > m["auc_shuffled"] + 0.05, task  # the audit's own margin
        assert abs(m["auc_shuffled"] - 0.5) < 0.1, task
        assert m["shuffle_check_passed"]
        assert "split grouped by patient" in m["leakage_checks"]


def test_a_leaky_split_and_a_leaky_feature_are_detected(cohort):
    train_idx, test_idx = grouped_split(cohort, seed=1)
    train, test = cohort.iloc[train_idx], cohort.iloc[test_idx]
    assert check_no_leakage(train, test, TASKS["progression"][1]) == []
    leaky = pd.concat([test, train.iloc[:5]])  # five training patients also in the test set
    assert "5 patients have rows on both sides" in check_no_leakage(train, leaky, TASKS["progression"][1])[0]
    assert "features derived from outcomes" in check_no_leakage(train, test, ("age", "iadrs_change"))[0]


def test_retraining_and_reloading_give_identical_predictions(cohort, models, tmp_path):
    again = train_task(cohort, "progression", seed=3)
    np.testing.assert_array_equal(again.predict(cohort), models["progression"].predict(cohort))
    save_models(models, tmp_path, {"seed": 3})
    loaded, meta = load_models(tmp_path)
    for task in TASKS:
        np.testing.assert_allclose(loaded[task].predict(cohort), models[task].predict(cohort), rtol=0, atol=1e-12)
    assert meta["provenance"]["seed"] == 3 and "lightgbm" in meta["provenance"]["versions"]


def test_contributions_add_up_to_the_prediction(cohort, models):
    m = models["responder"]
    contrib = m.contributions(cohort.head(10))
    logit = np.log(m.predict(cohort.head(10)) / (1 - m.predict(cohort.head(10))))
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), logit, rtol=1e-6)
    assert abs(m.importance().sum() - 1) < 1e-9


def test_bias_audit_flags_a_skewed_cohort(cohort):
    skewed = cohort[(cohort["sex"] == "M") | (cohort.index % 10 == 0)]  # few women left
    report = composition_audit(skewed)
    assert any("women are" in w for w in report["warnings"])
    m = train_task(skewed, "progression", seed=3)
    assert any(w.startswith("sex F:") and "under-represented" in w for w in m.metrics["subgroups"]["warnings"])


def test_uncertainty_intervals_widen_with_parameter_uncertainty():
    from ml.uncertainty import ensemble, predict_with_uncertainty, variance_report

    settings = CohortSettings(n=120, seed=5)
    patients = simulate_cohort(settings.model_copy(update={"seed": 6}))
    reports = {}
    for scale in (0.0, 2.0):
        grid, features = ensemble(settings, "progression", n_draws=3, n_boot=2, scale=scale, seed=5)
        reports[scale] = variance_report(predict_with_uncertainty(grid, features, patients))
    assert reports[0.0]["var_qsp_parameters"] == pytest.approx(0.0, abs=1e-12)  # no parameter uncertainty, no QSP part
    assert reports[2.0]["var_qsp_parameters"] > 0
    assert reports[2.0]["mean_interval_width"] > reports[0.0]["mean_interval_width"]


ENRICH = {"name": "enrich", "seed": 11, "n_per_arm": 60, "duration_weeks": 76, "assess_weeks": [76],
          "measurement_noise": True, "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
          "arms": [{"name": "placebo"}, {"name": "don", "regimen": "donanemab_standard"}]}


def test_enrichment_on_predicted_responders_raises_effect_and_power_at_a_screening_cost(models):
    from qsp.trial.power import PowerSettings, power_analysis
    from qsp.trial.run import run_trial

    paired = {**ENRICH, "paired_arms": True}  # both arms on the same patients: the effect is not a draw of two samples
    plain = run_trial(paired)
    enriched = run_trial(paired, enrolment_filter=enrolment_filter(models, "responder>0.5"))
    settings = PowerSettings(replicates=300, n_per_arm=25)
    before, after = power_analysis(plain, settings).iloc[0], power_analysis(enriched, settings).iloc[0]
    assert after["effect"] > before["effect"]  # larger benefit (iADRS points) in predicted responders
    assert after["power"] > before["power"]
    assert enriched.screening["screen_per_enrolled"] > 1.2
    assert enriched.provenance["enrichment"]["screened"] == enriched.screening["screened"]


def test_enrichment_on_fast_progressors_enrols_faster_decliners(models):
    from qsp.trial.run import run_trial

    plain = run_trial(ENRICH).to_json()["arms"]["placebo"]
    enriched = run_trial(ENRICH, enrolment_filter=enrolment_filter(models, "progression>0.5")).to_json()["arms"]["placebo"]
    assert enriched["iadrs_change"][-1] < plain["iadrs_change"][-1]


def test_rules_are_validated():
    assert parse_rule("responder >= 0.4") == ("responder", ">=", 0.4)
    with pytest.raises(InvalidInput, match="expected TASK OP P"):
        parse_rule("fast people")
    with pytest.raises(InvalidInput, match="probability"):
        parse_rule("progression>3")
    assert parse_rule("aria<0.2") == ("aria", "<", 0.2)


def test_aria_enrichment_simulates_candidates_exposure_and_enrols_lower_risk(models):
    from qsp.trial.run import run_trial

    scenario = {**ENRICH, "n_per_arm": 25, "arms": [{"name": "don", "regimen": "donanemab_standard"}]}
    plain = run_trial(scenario).to_json()["arms"]["don"]
    low = run_trial(scenario, enrolment_filter=enrolment_filter(models, "aria<0.15")).to_json()["arms"]["don"]
    assert low["aria_e_pct"][-1] < plain["aria_e_pct"][-1]


def test_messy_csv_is_cleaned_and_every_fix_is_reported():
    visits, report = read_patients((paths.ROOT / "tests/data/messy_patients.csv").read_bytes())
    text = "\n".join(report)
    assert "column 'RID' read as 'patient_id'" in text and "column 'SITE' ignored" in text
    assert "age 300 outside 30-110; set missing" in text
    assert "amyloid_cl 'abc' is not a number" in text
    assert "1 duplicate visits" in text
    assert "week 'later' not understood; row dropped" in text
    assert "sex 'Q' not F/M" in text
    base = baseline_rows(visits)
    assert list(base["patient_id"]) == ["101", "102", "103", "104"]
    row = base.set_index("patient_id").loc["101"]
    assert row["iadrs"] == (85 - 28) + 48 and row["week"] == 0
    assert base.set_index("patient_id").loc["104", "week"] == pytest.approx(26.1, abs=0.1)


def test_unusable_csvs_exit_2(tmp_path, capsys, models):
    save_models(models, tmp_path / "m", {"seed": 3})
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\nx,1\n")
    assert main(["predict", "--models", str(tmp_path / "m"), "--patients", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no patient_id column" in capsys.readouterr().err
    assert main(["predict", "--models", str(tmp_path / "nowhere"), "--patients", str(bad), "--out", str(tmp_path / "o.csv")]) == 2


def test_predict_scores_the_example_csv(tmp_path, models):
    save_models(models, tmp_path / "m", {"seed": 3})
    out = tmp_path / "scores.csv"
    assert main(["predict", "--models", str(tmp_path / "m"), "--patients", str(paths.DATA_DIR / "example_patients.csv"), "--out", str(out)]) == 0
    scores = pd.read_csv(out)
    assert len(scores) == 12 and scores["progression_probability"].between(0, 1).all()


def test_train_refuses_bad_options_before_any_work(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "no" / "such" / "dir"), "--n", "10", "--uncertainty-draws", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--n: at least 50" in err and "--uncertainty-draws: 0 to 50" in err and "parent directory does not exist" in err
    assert not (tmp_path / "no").exists()


def test_train_then_predict_gives_intervals_and_aria_scores(tmp_path):
    out = tmp_path / "models"
    assert main(["train", "--out", str(out), "--n", "100", "--uncertainty-draws", "2", "--seed", "4"]) == 0
    report = __import__("json").loads((out / "report.json").read_text())
    assert {"progression", "responder", "aria", "subgroups", "uncertainty"} <= set(report)
    assert {"auc", "auc_shuffled"} <= set(report["progression"])
    assert 0 <= report["uncertainty"]["progression"]["share_qsp_parameters"] <= 1
    assert set(report["continuous"]) == {"iadrs_change", "cdrsb_change", "benefit_iadrs"}
    scores = tmp_path / "scores.csv"
    assert main(["predict", "--models", str(out), "--patients", str(paths.DATA_DIR / "example_patients.csv"), "--out", str(scores)]) == 0
    table = pd.read_csv(scores)
    assert (table["progression_p10"] <= table["progression_p90"]).all()
    for task in ("progression", "responder", "aria"):  # issue 14: a point outside its own interval
        assert table[f"{task}_probability"].between(table[f"{task}_p10"], table[f"{task}_p90"]).all(), task
    assert table["aria_probability"].notna().all()  # exposure simulated for each patient
    assert table["benefit_iadrs_predicted"].notna().all() and table["iadrs_change_predicted"].lt(5).all()


def test_training_on_uploaded_longitudinal_patients(tmp_path):
    """Patients with visits at weeks 0 and 78 (synthetic, from the model) train a progression model."""
    from qsp.trial.run import run_trial

    res = run_trial({"name": "rwd", "seed": 8, "n_per_arm": 160, "duration_weeks": 78, "assess_weeks": [78],
                     "measurement_noise": True, "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
                     "arms": [{"name": "placebo"}]})
    rec = res.records.merge(res.patients[["patient_id", "age", "sex", "weight_kg"]], on="patient_id")
    csv = pd.DataFrame({"patient_id": rec["patient_id"], "week": rec["week"], "age": rec["age"], "sex": rec["sex"],
                        "weight_kg": rec["weight_kg"], "apoe4_copies": rec["apoe4_copies"],
                        "amyloid_cl": rec["amyloid_cl_measured"], "tau_suvr": rec["tau_suvr_measured"],
                        "iadrs": rec["iadrs_measured"], "cdrsb": rec["cdrsb_measured"], "mmse": rec["mmse_measured"]})
    path = tmp_path / "rwd.csv"
    csv.to_csv(path, index=False)
    out = tmp_path / "rwd_models"
    assert main(["train", "--out", str(out), "--patients", str(path)]) == 0
    report = __import__("json").loads((out / "report.json").read_text())
    assert report["progression"]["auc"] > 0.6 and "responder" in report["not_trained"]


def test_continuous_outcomes_are_learned_better_than_the_mean(cohort):
    from ml.models import REGRESSION_TASKS, train_regression

    for task in REGRESSION_TASKS:
        m = train_regression(cohort, task, seed=3).metrics
        assert m["mae"] < m["mae_mean_baseline"], task
        assert m["r2"] > m["r2_shuffled"] + 0.1, task  # most of the change is each patient's own rate (issue 13)


def test_predict_refuses_a_csv_without_the_model_inputs_unless_imputing(tmp_path, capsys, models):
    """Issue 14: a CSV lacking age, sex, weight, APOE4, CDR-SB and MMSE was scored with exit 0."""
    save_models(models, tmp_path / "m", {"seed": 3})
    thin = tmp_path / "thin.csv"
    thin.write_text("patient_id,week,amyloid_cl,tau_suvr,iadrs\nA,0,80,1.3,100\nB,0,95,1.5,90\n")
    args = ["predict", "--models", str(tmp_path / "m"), "--patients", str(thin), "--out", str(tmp_path / "o.csv")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "thin.csv has no age, sex, weight_kg, apoe4_copies, cdrsb, mmse" in err and "--impute" in err
    assert not (tmp_path / "o.csv").exists()
    assert main([*args, "--impute"]) == 0
    table = pd.read_csv(tmp_path / "o.csv")
    assert table["imputed"].str.contains("age (model's missing-value branch)", regex=False).all()  # no cohort.csv beside these models
    assert table["imputed"].str.contains("mmse").all() and table["progression_probability"].notna().all()


def test_predict_reports_text_in_numeric_cells(tmp_path, capsys, models):
    """Issue 14: text in numeric cells was silently set to missing."""
    save_models(models, tmp_path / "m", {"seed": 3})
    pd.DataFrame({"age": [70.0, 74.0], "is_female": [1, 0], "mmse": [25.0, 27.0]}).to_csv(tmp_path / "m" / "cohort.csv", index=False)
    text = (paths.DATA_DIR / "example_patients.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[10] = "n/a"  # mmse
    csv = tmp_path / "p.csv"
    csv.write_text("\n".join([text[0], ",".join(cells), *text[2:4]]) + "\n")
    args = ["predict", "--models", str(tmp_path / "m"), "--patients", str(csv), "--out", str(tmp_path / "o.csv")]
    assert main(args) == 2
    assert "row 2: mmse 'n/a' is not a number" in capsys.readouterr().err
    assert main([*args, "--impute"]) == 0
    table = pd.read_csv(tmp_path / "o.csv", keep_default_na=False)
    assert table["imputed"].tolist() == ["mmse=26 (training median)", "", ""]


def test_predict_and_trial_check_out_before_any_work(tmp_path, capsys, monkeypatch):
    """Issue 14: an unwritable --out was discovered only after the work."""
    from ml import cli

    monkeypatch.setattr(cli, "load_models", lambda *_: pytest.fail("work started before --out was checked"))
    out = str(tmp_path / "no" / "such" / "o.csv")
    assert main(["predict", "--models", "m", "--patients", "p.csv", "--out", out]) == 2
    assert main(["trial", "s.yaml", "--models", "m", "--enrich", "responder>0.5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--out: directory does not exist" in err and "--out: is a directory" in err


def test_train_reports_a_failed_audit_visibly(tmp_path, capsys, monkeypatch):
    """Issue 14: a model no better than its shuffled twin was reported as "shuffle check passed"."""
    from ml import cli

    real = cli.train_task

    def worse_than_chance(cohort, task, seed=1):
        model = real(cohort, task, seed)
        if task == "aria":
            model.metrics.update(auc=0.38, auc_shuffled=0.53)
        return model

    monkeypatch.setattr(cli, "train_task", worse_than_chance)
    assert main(["train", "--out", str(tmp_path / "m"), "--n", "60", "--uncertainty-draws", "0"]) == 0
    captured = capsys.readouterr()
    assert "aria" in captured.out and "AUDIT FAILED" in captured.out
    assert "warning: aria: audit FAILED: held-out AUC 0.38 is not above the shuffled-label AUC 0.53" in captured.err
    assert main(["trial", str(paths.DATA_DIR / "scenarios" / "clarity_ad.yaml"), "--models", str(tmp_path / "m"),
                 "--enrich", "aria<0.2", "--out", str(tmp_path / "e.json")]) == 2
    assert "--enrich: the aria model failed its audit" in capsys.readouterr().err


def test_qsp_rerun_repeats_an_ml_enriched_trial_exactly(tmp_path, models, capsys):
    """Issue 14: `qsp rerun` on an `ml trial --enrich` result dropped the enrichment and reported "numbers differ"."""
    import json

    import yaml

    from qsp.cli.main import main as qsp_main

    save_models(models, tmp_path / "m", {"seed": 3})
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({**ENRICH, "n_per_arm": 8}))
    out = tmp_path / "enriched.json"
    assert main(["trial", str(scenario), "--models", str(tmp_path / "m"), "--enrich", "progression>0.5", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    enrolled = result["provenance"]["enrichment"]["enrolled_candidates"]
    assert len(enrolled) == 16 and result["enrichment"]["screened"] >= 16
    assert qsp_main(["rerun", str(out), "--out", str(tmp_path / "again.json")]) == 0
    assert "identical" in capsys.readouterr().out
