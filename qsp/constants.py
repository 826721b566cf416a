"""Names, units, thresholds and column ids shared by the whole project.

One place for every id that crosses a module boundary; each with a one-line
comment. Units are part of a name where it helps.
"""

from __future__ import annotations

# ---------------------------------------------------------------- time
DAYS_PER_WEEK = 7.0  # model time is in days, the CLI speaks in weeks
DAYS_PER_YEAR = 365.25  # days in a year, as in the model
WEEKS_PER_YEAR = DAYS_PER_YEAR / DAYS_PER_WEEK  # 52.18 weeks in a year

# ---------------------------------------------------------- covariates
AGE = "age"  # years
SEX = "sex"  # "F" or "M"
WEIGHT_KG = "weight_kg"  # body weight, kg
APOE4 = "apoe4_copies"  # 0, 1 or 2 APOE e4 alleles
PATIENT_ID = "patient_id"  # pseudonymous id of a (virtual) patient
SEXES = ("F", "M")  # allowed values of SEX
APOE4_GENOTYPES = (0, 1, 2)  # allowed values of APOE4
# Model parameters that carry a patient's covariates (weight kg, 1 = female, age years, APOE4 copies).
COVARIATE_PARAMETERS = ("weight_kg", "is_female", "age_yr", "apoe4_copies")

# --------------------------------------------------------- observables
AMYLOID_CL = "amyloid_cl"  # amyloid PET, Centiloids
TAU_SUVR = "tau_suvr"  # tau PET (flortaucipir), SUVr
IADRS = "iadrs"  # integrated AD rating scale, 0-144, lower is worse
ADAS_COG13 = "adas_cog13"  # ADAS-Cog13, 0-85, higher is worse
ADCS_IADL = "adcs_iadl"  # ADCS-iADL, 0-59, higher is better
CDRSB = "cdrsb"  # CDR sum of boxes, 0-18, higher is worse
MMSE = "mmse"  # mini-mental state examination, 0-30
CONC_UG_PER_ML = "conc_ug_per_ml"  # antibody serum concentration, ug/mL
ARIA_E_RISK = "aria_e_risk"  # cumulative probability of a first ARIA-E event, 0-1
N_DOSES = "n_doses"  # doses given so far
DOSE_TOTAL_MG = "dose_total_mg"  # total mg given so far
AMYLOID_LAGGED_CL = "amyloid_lagged_cl"  # amyloid burden as seen by tau spread (lagged by years), CL
SEVERITY = "severity"  # latent disease severity in CDR-SB points (CDR-SB = severity + the patient's offset)

UNTREATED = "untreated"  # name of the no-treatment projection or forecast, always present
IADRS_ADAS_MAX = 85.0  # iADRS = (85 - ADAS-Cog13) + ADCS-iADL (Wessels 2015)


def iadrs_from_components(adas_cog13, adcs_iadl):
    """iADRS (0-144, lower is worse) from ADAS-Cog13 and ADCS-iADL; numbers or arrays.

    >>> iadrs_from_components(25.0, 45.0)
    105.0
    """
    return (IADRS_ADAS_MAX - adas_cog13) + adcs_iadl


# Observables every simulation returns, in this order (model ids).
OBSERVABLES = (
    AMYLOID_CL,
    TAU_SUVR,
    IADRS,
    ADAS_COG13,
    ADCS_IADL,
    CDRSB,
    MMSE,
    CONC_UG_PER_ML,
    ARIA_E_RISK,
    N_DOSES,
    DOSE_TOTAL_MG,
    AMYLOID_LAGGED_CL,
    SEVERITY,
)

# Display labels with units, for tables and axes.
LABELS = {
    AMYLOID_CL: "Amyloid PET (CL)",
    TAU_SUVR: "Tau PET (SUVr)",
    IADRS: "iADRS (points)",
    ADAS_COG13: "ADAS-Cog13 (points)",
    ADCS_IADL: "ADCS-iADL (points)",
    CDRSB: "CDR-SB (points)",
    MMSE: "MMSE (points)",
    CONC_UG_PER_ML: "Antibody concentration (ug/mL)",
    ARIA_E_RISK: "Cumulative ARIA-E risk",
    N_DOSES: "Doses given",
    DOSE_TOTAL_MG: "Total dose (mg)",
    AMYLOID_LAGGED_CL: "Amyloid driving tau spread (CL, lagged)",
    SEVERITY: "Latent disease severity (CDR-SB points)",
}

# Disease state held by the model's species (what places a patient on the continuum).
# (amyloid_cl, tau_suvr, severity, amyloid_lagged_cl); when only three are given the
# lagged amyloid is taken equal to amyloid (a patient whose amyloid has been stable).
STATE_SPECIES = (AMYLOID_CL, TAU_SUVR, SEVERITY, AMYLOID_LAGGED_CL)

# Realistic measurement error SDs (test-retest), used when noise is on.
MEASUREMENT_SD = {
    AMYLOID_CL: 4.0,
    TAU_SUVR: 0.03,
    IADRS: 4.0,
    CDRSB: 0.7,
    MMSE: 1.5,
}
# Patient-level drift of a measured score, points per year from the trial's baseline visit (SD of a zero-mean
# random slope; used when noise is on): differences between patients in how their scores move apart from the
# disease (practice effects, informant and rater, mood, comorbid conditions), the random slope of the residual
# in the mixed models these trials are analysed with. Unlike a rate of the disease, it is the same with and
# without treatment, which is why a treated arm keeps the placebo arm's SD of change (TRAILBLAZER-ALZ 2: 10.3 in
# both low/medium-tau arms). Calibrated to the SD-of-change targets (issue 13); MMSE has no such target: 0.
SCORE_DRIFT_SD_PER_YEAR = {
    IADRS: 2.5,
    CDRSB: 0.4,
}

# ---------------------------------------------------------- thresholds
AMYLOID_POSITIVE_CL = 24.1  # CL; also the "amyloid cleared" cut-point of TRAILBLAZER-ALZ 2
TAU_POSITIVE_SUVR = 1.10  # flortaucipir SUVr: tau positive above
TAU_HIGH_SUVR = 1.46  # flortaucipir SUVr: "high tau" above
# Tau groups of TRAILBLAZER-ALZ 2: name -> (lower, upper) SUVr, lower inclusive.
TAU_GROUPS = {
    "very_low": (float("-inf"), TAU_POSITIVE_SUVR),
    "low_medium": (TAU_POSITIVE_SUVR, TAU_HIGH_SUVR),
    "high": (TAU_HIGH_SUVR, float("inf")),
}
# Clinical stages by CDR-SB (O'Bryant 2008 staging): name -> (lower, upper), lower inclusive.
STAGES = {
    "preclinical": (float("-inf"), 0.5),
    "mci": (0.5, 4.5),
    "mild_dementia": (4.5, 9.5),
    "moderate_dementia": (9.5, 16.0),
    "severe_dementia": (16.0, float("inf")),
}
# Clinically meaningful decline (Wessels 2022 for iADRS; 1 point on CDR-SB).
MEANINGFUL_IADRS_DROP = 9.0  # iADRS points
MEANINGFUL_CDRSB_RISE = 1.0  # CDR-SB points

# -------------------------------------------------------------- drugs
DRUG_IDS = {"lecanemab": 1, "donanemab": 2, "aducanumab": 3, "gantenerumab": 4}  # model's drug_id
# Drugs with a published subcutaneous absorption model.
SC_DRUGS = ("lecanemab", "gantenerumab")
ROUTES = ("iv", "sc")  # iv: 1-hour infusion; sc: depot with first-order absorption
DOSE_UNITS = ("mg", "mg/kg")
MAX_PHASES = 6  # phases of a regimen the model can hold
OPEN_ENDED_COUNT = 1_000_000  # dose count standing for "until the end"
MAX_STOP_CHECKS = 8  # stop-rule assessments the model can hold
STOP_CHECK_LEAD_DAYS = 1e-3  # a stop-rule check happens just before that week's dose
STOP_RULE_OFF_CL = -1e9  # threshold that never triggers
