"""Named paths to the files the project ships. Code reaches files only through these."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # repository root
MODELS_DIR = ROOT / "models_sbml"  # built-in models
BUILTIN_ANTIMONY = MODELS_DIR / "ad_continuum.ant"  # readable source of the built-in model
BUILTIN_SBML = MODELS_DIR / "ad_continuum.xml"  # SBML L3V2 compiled from it
PARAMETER_TABLE = MODELS_DIR / "parameters.csv"  # value, unit, source, IIV, uncertainty
DATA_DIR = ROOT / "data"  # shipped data
REGIMEN_LIBRARY = DATA_DIR / "regimens.yaml"  # named regimens from the trials
CALIBRATION_TARGETS = DATA_DIR / "calibration_targets.csv"  # published trial results the model was fitted to
VALIDATION_TARGETS = DATA_DIR / "validation_targets.csv"  # published results calibration never sees (out of sample)
SCENARIOS_DIR = DATA_DIR / "scenarios"  # scenario files of the calibration trials
TWIN_EXAMPLES_DIR = DATA_DIR / "twin_examples"  # synthetic example patients (PATIENT.csv) for the digital twin
