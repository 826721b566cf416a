"""The built-in model's parameter table: value, unit, source, IIV and uncertainty.

``models_sbml/parameters.csv`` documents every parameter of the SBML model; a
test checks that its values are the SBML's. ``iiv_sd`` is the between-patient
SD of a random effect (log scale); ``uncertainty_sd_log`` the SD (log scale) of
a population value's uncertainty, used to propagate parameter uncertainty.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from qsp import paths


@functools.lru_cache(maxsize=1)
def parameter_table() -> pd.DataFrame:
    """The parameter table, indexed by parameter id."""
    return pd.read_csv(paths.PARAMETER_TABLE, dtype={"id": str}).set_index("id")


def iiv_sd() -> dict[str, float]:
    """Random-effect SDs (log scale) by eta parameter id (a fresh dict: callers may change it)."""
    return dict(_iiv_sd())


@functools.lru_cache(maxsize=1)
def _iiv_sd() -> tuple[tuple[str, float], ...]:
    table = parameter_table()  # read once: every virtual candidate draws its random effects from these
    rows = table[table["iiv_sd"].notna()]
    return tuple((pid, float(sd)) for pid, sd in rows["iiv_sd"].items())


def uncertain_parameters() -> dict[str, float]:
    """Population parameters with an uncertainty SD (log scale), by id."""
    table = parameter_table()
    rows = table[table["uncertainty_sd_log"].notna()]
    return {pid: float(sd) for pid, sd in rows["uncertainty_sd_log"].items()}


def draw_parameter_sets(n: int, seed: int, scale: float = 1.0) -> list[dict[str, float]]:
    """``n`` draws of the uncertain population parameters (log-normal around the table values).

    ``scale`` multiplies every uncertainty SD (0 gives the nominal values n times).

    >>> sets = draw_parameter_sets(2, seed=1)
    >>> len(sets), "lec_cl" in sets[0]
    (2, True)
    """
    table = parameter_table()
    sds = uncertain_parameters()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        draw = {}
        for pid, sd in sds.items():
            value = float(table.loc[pid, "value"])
            draw[pid] = value * float(np.exp(rng.normal(0.0, sd * scale)))
        out.append(draw)
    return out


def markdown_table() -> str:
    """The parameter table as Markdown (kept in models_sbml/README.md; a test checks it is current)."""
    table = parameter_table()
    lines = [
        "| id | value | unit | kind | description | source | IIV SD (log) | uncertainty SD (log) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pid, row in table.iterrows():
        if row["kind"] == "input":
            continue
        iiv = "" if pd.isna(row["iiv_sd"]) else f"{row['iiv_sd']:g}"
        unc = "" if pd.isna(row["uncertainty_sd_log"]) else f"{row['uncertainty_sd_log']:g} ({row['uncertainty_basis']})"
        lines.append(
            f"| `{pid}` | {row['value']:.6g} | {row['unit']} | {row['kind']} | {row['description']} | {row['source']} | {iiv} | {unc} |"
        )
    inputs = [pid for pid, row in table.iterrows() if row["kind"] == "input"]
    lines.append("")
    lines.append("Per-patient and per-regimen inputs (set by the engine for each simulation): " + ", ".join(f"`{p}`" for p in inputs) + ".")
    return "\n".join(lines)


TABLE_START = "<!-- parameter-table:start (generated from parameters.csv by `python -m qsp compile-model`) -->"
TABLE_END = "<!-- parameter-table:end -->"


def write_readme_table() -> None:
    """Replace the generated parameter table in models_sbml/README.md."""
    readme = paths.MODELS_DIR / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    parameter_table.cache_clear()
    _iiv_sd.cache_clear()
    readme.write_text(f"{head}{TABLE_START}\n{markdown_table()}\n{TABLE_END}{tail}", encoding="utf-8")
