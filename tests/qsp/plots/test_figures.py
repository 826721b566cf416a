"""Figures: units agree with the tables, bands have legends and outlines, thresholds and stage names stay clear."""

import numpy as np
import pandas as pd
import pytest

from qsp import constants as C
from qsp.plots import trial as T
from qsp.plots.twin import twin_figure
from qsp.population.continuum import natural_history
from qsp.population.outcomes import aria_risk_table

WEEKS = np.arange(0.0, 105.0, 4.0)


def _bands(regimens=("Untreated", "Drug A", "Drug B")) -> pd.DataFrame:
    rows = []
    for i, name in enumerate(regimens):
        for obs, scale in ((C.CDRSB, 1.0), (C.ARIA_E_RISK, 0.01)):
            if obs == C.ARIA_E_RISK and i == 0:
                continue
            median = scale * (2 + (i + 1) * WEEKS / 52)
            rows.append(pd.DataFrame({"regimen": name, "week": WEEKS, "observable": obs, "median": median, "p10": 0.8 * median,
                                      "p90": 1.2 * median, "p2_5": 0.6 * median, "p97_5": 1.4 * median}))
    return pd.concat(rows, ignore_index=True)


FIT = pd.DataFrame({"week": [0.0, 26.0], "observable": C.CDRSB, "observed": [2.0, np.nan], "median": [2.0, 2.2],
                    "p10": [1.8, 2.0], "p90": [2.2, 2.4]})


def test_aria_is_drawn_in_percent_like_its_table():
    bands = _bands()
    fig = twin_figure(FIT, bands, C.ARIA_E_RISK, T.arm_colours(["Untreated", "Drug A", "Drug B"]))
    assert "%" in fig.layout.yaxis.title.text and "%" in fig.layout.title.text
    line = next(t for t in fig.data if t.name == "Drug A")
    table = aria_risk_table(bands).set_index("regimen")
    assert round(float(line.y[-1]), 1) == table.loc["Drug A", "median %"]  # same number in the chart and the table
    assert T.display_label(C.ARIA_E_RISK) == "Cumulative ARIA-E risk (%)" and T.display_label(C.CDRSB) == C.LABELS[C.CDRSB]


def test_bands_have_legend_keys_outlines_and_distinct_hatching():
    colours = T.arm_colours(["Untreated", "Drug A", "Drug B"])
    fig = twin_figure(FIT, _bands(), C.CDRSB, colours)
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert "80% band (shaded or hatched)" in legend and "95% limits (dotted, smoothed)" in legend
    bands = [t for t in fig.data if t.fill == "toself" and t.legendgroup in colours]
    assert len(bands) == 3
    for trace in bands:  # each band outlined in its own regimen's colour, fill light
        assert trace.line.width >= 1 and trace.line.color.startswith(T._rgba(colours[trace.legendgroup], 0)[:-2])
        assert float(trace.fillcolor.rsplit(",", 1)[1].rstrip(")")) <= 0.12
    shapes = [t.fillpattern.shape if t.fillpattern else "" for t in bands]
    assert len(set(shapes)) == len(shapes)  # overlapping bands never share a look (they blended to brown before)


def test_dotted_95_percent_limits_are_smoothed():
    bands = _bands()
    zigzag = np.where(np.arange(len(bands)) % 2 == 0, 0.5, -0.5)  # Monte Carlo noise of a tail quantile
    bands["p97_5"] = bands["p97_5"] + zigzag
    fig = twin_figure(FIT, bands, C.CDRSB, T.arm_colours(["Untreated", "Drug A", "Drug B"]))
    dotted = [t for t in fig.data if t.line.dash == "dot" and t.x is not None and len(t.x) > 1]
    assert len(dotted) == 6 and all(t.line.shape == "spline" for t in dotted)
    upper = next(t for t in dotted if t.legendgroup == "Untreated" and np.asarray(t.y)[-1] > 4)
    raw = bands.query("regimen == 'Untreated' and observable == @C.CDRSB")["p97_5"].to_numpy()

    def roughness(y):
        return float(np.abs(np.diff(np.asarray(y), 2)).sum())

    assert roughness(upper.y) < 0.2 * roughness(raw)  # drawn without the zig-zag
    assert np.abs(np.asarray(upper.y) - raw).max() < 0.6  # and close to the computed limit


def test_threshold_labels_sit_right_of_the_plot_clear_of_the_lines():
    traj = _bands().rename(columns={})
    fig = T.projection_figure(traj, C.CDRSB, T.arm_colours(["Untreated", "Drug A", "Drug B"]))
    labels = [a for a in fig.layout.annotations if a.text in ("mild dementia", "moderate dementia")]
    assert len(labels) == 2
    for a in labels:
        assert a.xref == "x domain" and a.x == 1 and a.xanchor == "left"
    assert fig.layout.margin.r >= T.HLINE_MARGIN_PX
    assert T.band_figure(traj, "regimen", "week", "t", "y", "x", {"Untreated": "#1f77b4"}, centre="median", lo="p10",
                         hi="p90").layout.margin.r < T.HLINE_MARGIN_PX


def test_trial_bands_say_they_are_confidence_intervals():
    traj = pd.DataFrame({"arm": "A", "week": WEEKS, "measure": "cdrsb_change", "mean": WEEKS / 52, "lo": 0.0, "hi": 3.0})
    fig = T.trial_measure_figure(traj, "cdrsb_change", {"A": "#1f77b4"})
    assert "95% interval of the mean (shaded or hatched)" in [t.name for t in fig.data]


@pytest.fixture(scope="module")
def history():
    return natural_history()


def test_stage_names_are_a_legend_above_the_panels_not_labels_over_the_titles(history):
    fig = T.continuum_figure(history)
    texts = [a.text for a in fig.layout.annotations]
    assert not set(T.STAGE_LABELS.values()) & set(texts)  # as annotations they collided with the subplot titles
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend == [T.STAGE_LABELS[s] for s in dict.fromkeys(history["stage"])]
    titles = [a for a in fig.layout.annotations if a.text in {C.LABELS[C.AMYLOID_CL], C.LABELS[C.TAU_SUVR]}]
    assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y > max(a.y for a in titles)


def test_the_stage_spans_are_drawn_in_every_panel(history):
    """The spans were added before the curves, and Plotly drops shapes on a subplot without a trace: none was drawn."""
    fig = T.continuum_figure(history)
    spans = [s for s in fig.layout.shapes if s.type == "rect"]
    n_bands = sum(1 for i, s in enumerate(history["stage"]) if i == 0 or s != history["stage"].iloc[i - 1])
    assert len(spans) == 4 * n_bands and {s.xref for s in spans} == {"x", "x2", "x3", "x4"}


def test_the_power_curve_keeps_its_log_axis_on_the_data():
    """The design's size was an annotated vline: on the log axis its x was read as 10^150 and squashed the curves."""
    curve = pd.DataFrame({"comparison": "A vs placebo", "n_per_arm": [20, 50, 100, 200, 500, 1000],
                          "power": [0.1, 0.2, 0.4, 0.7, 0.95, 0.99]})
    fig = T.power_curve_figure(curve, 0.8, 150)
    design = [t for t in fig.data if t.name == "this design: 150 per arm"]
    assert design and list(design[0].x) == [150, 150]
    assert not [a for a in fig.layout.annotations if a.x is not None and a.x > 10]  # no annotation placed at a raw x on a log axis
    assert not [s for s in fig.layout.shapes if s.x0 is not None and s.x0 > 10]


def test_every_calibration_target_has_its_own_row():
    """TRAILBLAZER-ALZ 2's slowing is a target of two scenarios (low/medium tau, combined): one label drew both on one row."""
    from qsp.trial.calibration import load_targets

    table = load_targets().assign(model=0.0, difference=0.0, **{"pass": True})
    rows = T.targets_figure(table).data[0].y
    assert len(set(rows)) == len(table)


def test_the_smoothed_95_limits_follow_a_steep_course():
    """Under treatment amyloid falls steeply: averaging the limit itself drew it far below every draw at the start."""
    median = 112.0 * np.exp(-WEEKS / 20)
    bands = pd.DataFrame({"regimen": "Drug A", "week": WEEKS, "observable": C.AMYLOID_CL, "median": median,
                          "p10": median - 5, "p90": median + 5, "p2_5": median - 10, "p97_5": median + 10})
    fig = twin_figure(FIT.assign(observable=C.AMYLOID_CL), bands, C.AMYLOID_CL, {"Drug A": "#1f77b4"})
    dotted = [t for t in fig.data if t.line is not None and t.line.dash == "dot" and t.x is not None and len(t.x) == len(WEEKS)]
    assert len(dotted) == 2
    np.testing.assert_allclose(sorted(t.y[0] for t in dotted), [102.0, 122.0])  # the limits at week 0, not pulled down


def test_every_target_measure_has_a_readable_and_distinct_label():
    from qsp.plots.trial import measure_label
    from qsp.trial.calibration import load_targets, load_validation_targets

    keys = sorted(set(load_targets()["measure"]) | set(load_validation_targets()["measure"]))
    labels = {key: measure_label(key) for key in keys}
    assert all("_" not in label and label != key for key, label in labels.items()), labels
    assert len(set(labels.values())) == len(keys)  # two keys never read the same
    assert measure_label("not_a_known.measure") == "not_a_known.measure"  # unknown keys shown as they are
