"""COMBINE archives: hostile archives refused before tellurium sees them, good ones run, exported runs reproduce."""

import io
import math
import os
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qsp.engine.solver import DEFAULT_SOLVER
from qsp.errors import InvalidInput, ModelRefused, SimulationFailed
from qsp.lab import omex
from qsp.lab.check import LabLimits
from qsp.lab.omex import ArchiveLimits, check_generated_code, export_archive, inspect_archive, inspect_sedml, run_archive

CORPUS = Path(os.environ.get("SBML_CORPUS", "/work/shared/sbml-corpus"))
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"SBML corpus not found at {CORPUS}")

# Rate k*[A] in a compartment of size 2: amount 10, concentration 5 at t=0; [A](t) = 5 exp(-k t / 2).
DECAY = b"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
 <model id="decay">
  <listOfCompartments><compartment id="c" size="2" constant="true"/></listOfCompartments>
  <listOfSpecies><species id="A" compartment="c" initialAmount="10" hasOnlySubstanceUnits="false"
   boundaryCondition="false" constant="false"/></listOfSpecies>
  <listOfParameters><parameter id="k" value="0.5" constant="true"/></listOfParameters>
  <listOfReactions><reaction id="R" reversible="false">
   <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
   <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci><ci>A</ci></apply></math></kineticLaw>
  </reaction></listOfReactions>
 </model>
</sbml>"""
ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>"""
TARGET_A = "/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='A']"
TARGET_K = "/sbml:sbml/sbml:model/sbml:listOfParameters/sbml:parameter[@id='k']/@value"


def sedml(source: str = "model.xml", model2: str = "model1", change: str = "1", task_target: str = TARGET_A,
          algorithm: str = '<algorithm kisaoID="KISAO:0000019"/>', model_id: str = "model1", extra: str = "") -> bytes:
    """A SED-ML L1V3 document: model1 from ``source``, model2 derived from ``model2`` with k = ``change``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sedML xmlns="http://sed-ml.org/sed-ml/level1/version3" level="1" version="3">
  <listOfSimulations>
    <uniformTimeCourse id="sim1" initialTime="0" outputStartTime="0" outputEndTime="4" numberOfPoints="8">{algorithm}
    </uniformTimeCourse>
  </listOfSimulations>
  <listOfModels>
    <model id="{model_id}" language="urn:sedml:language:sbml.level-3.version-2" source="{source}"/>
    <model id="model2" language="urn:sedml:language:sbml" source="{model2}">
      <listOfChanges><changeAttribute target="{TARGET_K}" newValue="{change}"/></listOfChanges>
    </model>{extra}
  </listOfModels>
  <listOfTasks>
    <task id="task1" modelReference="{model_id}" simulationReference="sim1"/>
    <task id="task2" modelReference="model2" simulationReference="sim1"/>
  </listOfTasks>
  <listOfDataGenerators>
    <dataGenerator id="time1" name="time"><listOfVariables>
      <variable id="t" symbol="urn:sedml:symbol:time" taskReference="task1"/></listOfVariables>
      <math xmlns="http://www.w3.org/1998/Math/MathML"><ci>t</ci></math></dataGenerator>
    <dataGenerator id="A1"><listOfVariables>
      <variable id="a" target="{task_target}" taskReference="task1"/></listOfVariables>
      <math xmlns="http://www.w3.org/1998/Math/MathML"><ci>a</ci></math></dataGenerator>
    <dataGenerator id="A2"><listOfVariables>
      <variable id="a" target="{TARGET_A}" taskReference="task2"/></listOfVariables>
      <math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><cn>2</cn><ci>a</ci></apply></math></dataGenerator>
  </listOfDataGenerators>
  <listOfOutputs>
    <report id="report1"><listOfDataSets>
      <dataSet id="d1" label="time" dataReference="time1"/><dataSet id="d2" label="[A]" dataReference="A1"/>
    </listOfDataSets></report>
    <plot2D id="plot1"><listOfCurves>
      <curve id="c1" xDataReference="time1" yDataReference="A2" logX="false" logY="false"/></listOfCurves></plot2D>
  </listOfOutputs>
</sedML>""".encode()


MANIFEST = b"""<?xml version="1.0" encoding="UTF-8"?>
<omexManifest xmlns="http://identifiers.org/combine.specifications/omex-manifest">
  <content location="." format="http://identifiers.org/combine.specifications/omex"/>
  <content location="./model.xml" format="http://identifiers.org/combine.specifications/sbml"/>
  <content location="./sim.sedml" format="http://identifiers.org/combine.specifications/sed-ml" master="true"/>
</omexManifest>"""


def make_zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def archive(sed: bytes | None = None, model: bytes = DECAY, **extra: bytes) -> bytes:
    return make_zip({"manifest.xml": MANIFEST, "model.xml": model, "sim.sedml": sed or sedml(), **extra})


# ------------------------------------------------------------------ hostile archives


@pytest.mark.parametrize("entries, symlinks, match", [
    ({"../evil.xml": b"x"}, None, r"entry '\.\./evil\.xml' leaves the archive"),
    ({"ok/../../evil.xml": b"x"}, None, r"leaves the archive"),
    ({"/etc/evil.xml": b"x"}, None, r"entry '/etc/evil\.xml' is an absolute path"),
    ({"C:/evil.xml": b"x"}, None, r"absolute path"),
    ({"dir\\evil.xml": b"x"}, None, r"backslashes"),
    ({}, {"model.xml": "/etc/passwd"}, r"entry 'model\.xml' is a symbolic link"),
    ({"a": b"x", "a/b.xml": b"y"}, None, r"entry 'a' is both a file and a folder"),
    ({"x" * 300: b"x"}, None, r"name too long"),
])
def test_hostile_entries_are_refused(entries, symlinks, match):
    data = make_zip({"manifest.xml": MANIFEST, "sim.sedml": sedml(), **entries}, symlinks)
    with pytest.raises(ModelRefused, match=match):
        inspect_archive(data)


def test_too_many_entries_are_refused_with_the_limit_and_how_to_raise_it():
    data = make_zip({f"f{i}.txt": b"" for i in range(2_001)})
    with pytest.raises(ModelRefused, match=r"2,001 entries, limit 2,000 .*QSP_LAB_ARCHIVE_MAX_ENTRIES"):
        inspect_archive(data)


def test_archive_limits_are_settings(monkeypatch):
    monkeypatch.setenv("QSP_LAB_ARCHIVE_MAX_ENTRIES", "3")
    assert ArchiveLimits().max_entries == 3
    with pytest.raises(ModelRefused, match=r"4 entries, limit 3"):
        inspect_archive(archive(extra=b"x"), ArchiveLimits())
    with pytest.raises(ValueError, match=r"max_entries"):
        ArchiveLimits(max_entries=0)


def test_zip_bomb_is_refused_by_declared_size():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.txt", b"\0" * 60_000_000)  # 60 MB of zeros: about 60 kB compressed
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(ModelRefused, match=r"uncompressed size 60,000,000 bytes, limit 50,000,000 .*QSP_LAB_ARCHIVE_MAX_BYTES"):
        inspect_archive(buffer.getvalue())


def test_zip_bomb_with_a_lying_header_is_stopped_while_decompressing():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.txt", b"\0" * 3_000_000)
    data = bytearray(buffer.getvalue())
    central = data.rindex(b"PK\x01\x02")  # central directory entry: uncompressed size at offset 24
    data[central + 24:central + 28] = (100).to_bytes(4, "little")
    limits = ArchiveLimits(max_bytes=1_000_000)
    with pytest.raises(ModelRefused, match=r"archive refused: entry 'bomb\.txt' cannot be read|decompresses to more"):
        inspect_archive(bytes(data), limits)
    # an honest header over a small limit is refused before any byte is decompressed
    with pytest.raises(ModelRefused, match=r"uncompressed size 3,000,000 bytes, limit 1,000,000"):
        inspect_archive(buffer.getvalue(), limits)


def test_an_archive_over_the_size_limit_is_refused_before_it_is_opened():
    with pytest.raises(ModelRefused, match=r"archive refused: [0-9,]+ bytes, limit 1,000 .*QSP_LAB_ARCHIVE_MAX_BYTES"):
        inspect_archive(archive(), ArchiveLimits(max_bytes=1_000))


@pytest.mark.parametrize("data, match", [
    (b"just text", r"not a COMBINE archive \(not a zip file\)"),
    (b"PK\x03\x04 broken", r"not a readable zip file"),
])
def test_non_zip_input_is_refused(data, match):
    with pytest.raises(ModelRefused, match=match):
        inspect_archive(data)


def test_a_path_is_never_opened():
    with pytest.raises(InvalidInput, match=r"archive: expected the archive's bytes \(got str\)"):
        inspect_archive("/etc/passwd")


@pytest.mark.parametrize("source, match", [
    ("https://www.ebi.ac.uk/biomodels/model.xml", r"model source 'https://www\.ebi\.ac\.uk/biomodels/model\.xml' is a URL: nothing is fetched"),
    ("urn:miriam:biomodels.db:BIOMD0000000012", r"model source 'urn:miriam:biomodels\.db:BIOMD0000000012' is a URN"),
    ("/etc/passwd", r"model source '/etc/passwd' is an absolute path"),
    ("file:///etc/passwd", r"is a URL"),
    ("../model.xml", r"model source '\.\./model\.xml' leaves the archive"),
    ("other.xml", r"model source 'other\.xml' is not a file of the archive"),
    ("model.xml'); import os #", r"a file name may only hold"),
])
def test_model_sources_outside_the_archive_are_refused_by_name(source, match):
    with pytest.raises(ModelRefused, match=match):
        inspect_archive(archive(sedml(source=source)))


@pytest.mark.parametrize("files, match", [
    ({"../model.xml": DECAY}, r"file name '\.\./model\.xml' leaves the archive"),
    ({"/tmp/model.xml": DECAY}, r"file name '/tmp/model\.xml' is an absolute path"),
    ({"model.xml": "not bytes"}, r"files\['model\.xml'\]: expected bytes"),
    ({}, r"model source 'model\.xml' is not a file of the archive"),
])
def test_bare_sedml_files_are_checked_like_archive_entries(files, match):
    with pytest.raises((ModelRefused, InvalidInput), match=match):
        inspect_sedml(sedml(), files)


def test_derived_models_in_a_cycle_are_refused():
    sed = sedml(source="model2", model2="model1")
    with pytest.raises(ModelRefused, match=r"cycle: model1 -> model2 -> model1"):
        inspect_archive(archive(sed))


def test_a_model_derived_from_itself_is_refused():
    with pytest.raises(ModelRefused, match=r"model 'model1': model source '#model1' is the model itself"):
        inspect_archive(archive(sedml(source="#model1")))


def test_repeated_tasks_in_a_cycle_are_refused():
    loop = ('</listOfTasks><listOfTasks><repeatedTask id="r1" range="x" resetModel="true"><listOfRanges>'
            '<vectorRange id="x"><value>1</value></vectorRange></listOfRanges><listOfSubTasks><subTask task="r2"/>'
            '</listOfSubTasks></repeatedTask><repeatedTask id="r2" range="y" resetModel="true"><listOfRanges>'
            '<vectorRange id="y"><value>1</value></vectorRange></listOfRanges><listOfSubTasks><subTask task="r1"/>'
            '</listOfSubTasks></repeatedTask>')
    sed = sedml().replace(b"</listOfTasks>", loop.encode() + b"</listOfTasks>", 1)
    with pytest.raises(ModelRefused, match=r"repeated tasks contain each other in a cycle: r1 -> r2 -> r1"):
        inspect_archive(archive(sed))


def test_data_description_url_is_refused():
    extra = '</listOfModels><listOfDataDescriptions><dataDescription id="d" source="http://example.org/d.csv"/>' \
            '</listOfDataDescriptions><listOfModels>'
    with pytest.raises(ModelRefused, match=r"data description 'd': source 'http://example\.org/d\.csv' is a URL"):
        inspect_archive(archive(sedml(extra=extra)))


@pytest.mark.parametrize("where", ["model", "sedml", "manifest"])
def test_xml_entities_are_refused_everywhere(where):
    model = ENTITY + DECAY[DECAY.index(b"<sbml"):] if where == "model" else DECAY
    sed = sedml()
    sed = ENTITY + sed[sed.index(b"<sedML"):] if where == "sedml" else sed
    manifest = ENTITY + MANIFEST[MANIFEST.index(b"<omexManifest"):] if where == "manifest" else MANIFEST
    data = make_zip({"manifest.xml": manifest, "model.xml": model, "sim.sedml": sed})
    with pytest.raises(ModelRefused, match=r"DTD or entity declarations"):
        inspect_archive(data)


COMP_NS = b'xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" comp:required="true"'


def with_external(source: str) -> bytes:
    return DECAY.replace(b'level="3" version="2">', b'level="3" version="2" ' + COMP_NS + b">").replace(
        b"<model", b'<comp:listOfExternalModelDefinitions><comp:externalModelDefinition comp:id="e" comp:source="'
        + source.encode() + b'" comp:modelRef="decay"/></comp:listOfExternalModelDefinitions><model', 1)


@pytest.mark.parametrize("source, match", [
    ("http://example.org/sub.xml", r"model 'model\.xml': comp external model 'http://example\.org/sub\.xml' is a URL"),
    ("/etc/sub.xml", r"comp external model '/etc/sub\.xml' is an absolute path"),
    ("sub.xml", r"comp external model 'sub\.xml' is not a file of the archive"),
])
def test_comp_external_models_outside_the_archive_are_refused(source, match):
    with pytest.raises(ModelRefused, match=match):
        inspect_archive(archive(model=with_external(source)))


def test_comp_external_model_inside_the_archive_is_gated_and_read():
    listing = inspect_archive(archive(model=with_external("sub/decay.xml"), **{"sub/decay.xml": DECAY}))
    assert listing.reads == ("model.xml", "sub/decay.xml")
    with pytest.raises(ModelRefused, match=r"model 'sub/decay\.xml': refused: DTD or entity"):
        inspect_archive(archive(model=with_external("sub/decay.xml"), **{"sub/decay.xml": ENTITY + DECAY[40:]}))


def test_a_model_failing_the_sbml_gate_is_refused_by_name():
    with pytest.raises(ModelRefused, match=r"model 'model\.xml': not SBML: root element is 'html'"):
        inspect_archive(archive(model=b"<html><body>hi</body></html>"))


@pytest.mark.parametrize("kwargs, match", [  # values tellurium would paste into the Python it executes
    ({"change": "1&#10;import os"}, r"control characters"),
    ({"change": "__import__('os').system('id')"}, r"newValue=.*must be a number"),
    ({"task_target": "/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='A\\']"}, r"not a plain XPath"),
    ({"task_target": "/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='A]+os.system(1)#']"}, r"not a plain XPath"),
    ({"model_id": "os.system"}, r"'os\.system'>: not an identifier"),
    ({"model_id": "import"}, r"not an identifier .*not a Python keyword"),
    ({"algorithm": '<algorithm kisaoID="KISAO:0000019" name="x&#10;import os"/>'}, r"control characters"),
    ({"algorithm": '<algorithm kisaoID="KISAO:0000019"><listOfAlgorithmParameters><algorithmParameter '
                   'kisaoID="KISAO:0000209" value="\'+str(1)+\'"/></listOfAlgorithmParameters></algorithm>'}, r"must be a number"),
])
def test_sedml_values_that_reach_generated_code_are_checked(kwargs, match):
    with pytest.raises(ModelRefused, match=match):
        inspect_archive(archive(sedml(**kwargs)))


def test_mathml_identifiers_are_checked():
    sed = sedml().replace(b"<ci>t</ci>", b"<ci>__import__('os')</ci>")
    with pytest.raises(ModelRefused, match=r"<ci>.*not an identifier"):
        inspect_archive(archive(sed))


@pytest.mark.parametrize("code, match", [
    ("import subprocess", r"imports subprocess"),
    ("x = open('/etc/passwd')", r"uses the name open"),
    ("x = (1).__class__", r"uses the attribute \.__class__"),
    ("import tellurium as te\nm = te.loadSBMLModel('https://example.org/m.xml')", r"refers to 'https://example\.org/m\.xml'"),
    ("import tellurium.temiriam as temiriam", r"imports tellurium\.temiriam"),
    ("f = lambda: 1", r"Lambda"),
])
def test_generated_code_outside_tellurium_translation_is_refused(code, match):
    with pytest.raises(ModelRefused, match=match):
        check_generated_code(code, "/tmp/work")


def test_listing_is_typed_and_complete():
    listing = inspect_archive(archive())
    assert [(e.location, e.format, e.master) for e in listing.entries] == [
        ("manifest.xml", "manifest", False), ("model.xml", "sbml", False), ("sim.sedml", "sed-ml", True)]
    assert [(m.id, m.file, m.derived_from, m.changes) for m in listing.models] == [
        ("model1", "model.xml", None, 0), ("model2", None, "model1", 1)]
    (sim,) = listing.simulations
    assert (sim.kind, sim.output_end, sim.steps, sim.algorithm) == ("uniformTimeCourse", 4.0, 8, "KISAO:0000019")
    assert [(t.id, t.model) for t in listing.tasks] == [("task1", "model1"), ("task2", "model2")]
    assert [(o.id, o.kind, o.columns) for o in listing.outputs] == [
        ("report1", "report", (("time", "time1"), ("[A]", "A1"))), ("plot1", "plot2D", (("time1", "time1"), ("A2", "A2")))]
    assert listing.outputs[1].curves == (omex.SedCurve("time1", "A2", None, "A2"),)
    assert listing.entries_frame()["size_bytes"].sum() == len(MANIFEST) + len(DECAY) + len(sedml())


def test_only_master_sedml_runs_when_the_manifest_marks_one():
    manifest = MANIFEST.replace(b"</omexManifest>", b'<content location="other.sedml" '
                                b'format="http://identifiers.org/combine.specifications/sed-ml"/></omexManifest>')
    data = make_zip({"manifest.xml": manifest, "model.xml": DECAY, "sim.sedml": sedml(), "other.sedml": b"<broken"})
    assert [d.location for d in inspect_archive(data).documents] == ["sim.sedml"]
    unmarked = manifest.replace(b' master="true"', b"")
    with pytest.raises(ModelRefused, match=r"other\.sedml: not well-formed XML"):
        inspect_archive(make_zip({"manifest.xml": unmarked, "model.xml": DECAY, "sim.sedml": sedml(), "other.sedml": b"<broken"}))


def test_without_manifest_sedml_files_are_found_by_extension():
    listing = inspect_archive(make_zip({"model.xml": DECAY, "sim.sedml": sedml()}))
    assert [d.location for d in listing.documents] == ["sim.sedml"]
    with pytest.raises(ModelRefused, match=r"no SED-ML document \(nothing to run\)"):
        inspect_archive(make_zip({"model.xml": DECAY}))


def test_too_many_points_are_refused_with_the_limit():
    sed = sedml().replace(b'numberOfPoints="8"', b'numberOfPoints="100000000"')
    with pytest.raises(ModelRefused, match=r"100,000,001 time points, limit 100,001 .*QSP_LAB_ARCHIVE_MAX_POINTS"):
        inspect_archive(archive(sed))


# ------------------------------------------------------------------ good archives run (sandboxed tellurium)


def exact_concentration(t, k):
    return 5.0 * np.exp(-k * np.asarray(t) / 2)


def test_derived_model_with_changes_runs_with_reports_and_plots(tmp_path):
    run = run_archive(archive(sedml(model2="model1", change="1.0")))
    assert run.kinds == {"report1": "report", "plot1": "plot2D"}
    report, plot = run.outputs["report1"], run.outputs["plot1"]
    assert list(report.columns) == ["time", "[A]"] and list(plot.columns) == ["time1", "A2"]
    assert np.allclose(report["time"], np.linspace(0, 4, 9))
    assert np.allclose(report["[A]"], exact_concentration(report["time"], 0.5), rtol=1e-4)
    assert np.allclose(plot["A2"], 2 * exact_concentration(plot["time1"], 1.0), rtol=1e-4)  # the change k=1 applied
    paths = omex.write_outputs(run, tmp_path)
    assert sorted(p.name for p in paths) == ["plot1.csv", "report1.csv"]
    assert pd.read_csv(tmp_path / "report1.csv").columns.tolist() == ["time", "[A]"]


PHRASEDML = """
model1 = model "m1.xml"
model2 = model model1 with k1 = 0.6
sim1 = simulate uniform(0, 10, 20)
sim2 = simulate steadystate
task1 = run sim1 on model1
task2 = run sim1 on model2
scan1 = repeat task1 for k1 in [0.1, 0.2, 0.5], reset=true
ss = run sim2 on model1
plot "Decay" task1.time vs task1.S1, task1.S2
report task2.time, task2.S1
report ss.S2
plot scan1.time vs scan1.S1
"""


def test_sedml_written_by_phrasedml_runs_scans_and_steady_states():
    import antimony
    import phrasedml

    antimony.clearPreviousLoads()
    antimony.loadAntimonyString("model m1\n J0: S1 -> S2; k1*S1\n S1 = 10; S2 = 0; k1 = 0.3\nend")
    sbml = antimony.getSBMLString("m1")
    phrasedml.setReferencedSBML("m1.xml", sbml)
    sed = phrasedml.convertString(PHRASEDML)
    assert sed, phrasedml.getLastError()
    run = omex.run_sedml(sed, {"m1.xml": sbml.encode()})
    assert run.kinds == {"plot_0": "plot2D", "report_1": "report", "report_2": "report", "plot_3": "plot2D"}
    assert run.listing.outputs[0].curves[1].label == "task1.S2"  # the data generator's name
    # a known tellurium 2.2 limitation, said in the listing: task1 also runs inside scan1 and keeps its last repeat
    assert run.listing.notes == ("simulation.sedml: task 'task1' is also a subtask of 'scan1': tellurium reports "
                                 "the last repeat of 'scan1' for it, not its own run",)
    decay = run.outputs["plot_0"]
    assert decay.shape == (21, 3) and np.allclose(decay.iloc[:, 1], 10 * np.exp(-0.5 * decay.iloc[:, 0]), rtol=1e-4)
    assert run.outputs["report_1"].columns.tolist() == ["task2.time", "task2.S1"]
    assert np.allclose(run.outputs["report_1"]["task2.S1"], 10 * np.exp(-0.6 * run.outputs["report_1"]["task2.time"]), rtol=1e-4)
    assert run.outputs["report_2"]["ss.S2"].iloc[0] == pytest.approx(10, rel=1e-6)
    scan = run.outputs["plot_3"]  # three repeats, one after the other
    assert scan.shape == (63, 2)
    k = np.repeat([0.1, 0.2, 0.5], 21)
    assert np.allclose(scan.iloc[:, 1], 10 * np.exp(-k * scan.iloc[:, 0]), rtol=1e-4)


PHRASEDML_MORE = """
model1 = model "m1.xml"
model2 = model model1 with k1 = k1 * 2, S1 = 5
sim1 = simulate uniform(0, 10, 20)
sim3 = simulate onestep(0.5)
sim4 = simulate uniform_stochastic(0, 10, 20)
task1 = run sim1 on model1
task2 = run sim1 on model2
t3 = run sim3 on model1
t4 = run sim4 on model1
scan1 = repeat task1 for k1 in logUniform(0.1, 1, 3), S1 = k1 * 10, reset=false
scan2 = repeat t4 for local.x in uniform(0, 3, 3), reset=true
report task2.time, task2.S1, max(task2.S1), scan1.S1, t3.S1, scan2.S2
"""


def test_computed_changes_functional_ranges_one_step_and_stochastic_runs_pass_the_generated_code_check():
    import antimony
    import phrasedml

    antimony.clearPreviousLoads()
    antimony.loadAntimonyString("model m1\n J0: S1 -> S2; k1*S1\n S1 = 10; S2 = 0; k1 = 0.3\nend")
    sbml = antimony.getSBMLString("m1")
    phrasedml.setReferencedSBML("m1.xml", sbml)
    sed = phrasedml.convertString(PHRASEDML_MORE)
    assert sed, phrasedml.getLastError()
    sed = sed.replace('source="model1"', 'source="#model1"')  # the other way to name a model of the same SED-ML
    assert omex.inspect_sedml(sed, {"m1.xml": sbml.encode()}).models[1].derived_from == "model1"
    report = omex.run_sedml(sed, {"m1.xml": sbml.encode()}).outputs["report_0"]
    assert report.shape == (84, 6)  # the longest column: 4 repeats x 21 points
    assert np.allclose(report["task2.S1"].iloc[:21], 5 * np.exp(-0.6 * report["task2.time"].iloc[:21]), rtol=1e-4)
    assert report["max(task2.S1)"].iloc[0] == pytest.approx(5) and report["t3.S1"].notna().sum() == 2


def test_deeply_nested_sedml_is_refused_with_the_limit():
    deep = sedml().replace(b"</sedML>", b"<annotation>" + b"<a>" * 300 + b"</a>" * 300 + b"</annotation></sedML>")
    with pytest.raises(ModelRefused, match=r"nested 30[0-9] levels deep, limit 200 .*QSP_LAB_MAX_DEPTH"):
        inspect_archive(archive(deep))


def test_a_failing_task_raises_simulation_failed():
    missing = "/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='nothere']"
    with pytest.raises(SimulationFailed, match=r"a SED-ML task failed: sim\.sedml: .*nothere"):
        run_archive(archive(sedml(task_target=missing)))


def test_time_limit_is_named_with_how_to_raise_it():
    sed = sedml().replace(b'outputEndTime="4" numberOfPoints="8"', b'outputEndTime="1e9" numberOfPoints="100000"')
    with pytest.raises(SimulationFailed, match=r"time limit of 0\.5 s .*QSP_LAB_TIMEOUT_S"):
        run_archive(archive(sed), lab_limits=LabLimits(timeout_s=0.5))


# ------------------------------------------------------------------ export a run, re-run it with tellurium


def roadrunner_run(sbml: bytes, end: float, points: int, selections: list[str]) -> pd.DataFrame:
    import roadrunner

    rr = roadrunner.RoadRunner(sbml.decode())
    DEFAULT_SOLVER.apply(rr)
    rr.timeCourseSelections = ["time", *selections]
    return pd.DataFrame(np.asarray(rr.simulate(0, end, points)), columns=["time", *selections])


def test_exported_run_reproduces_with_tellurium(tmp_path, monkeypatch):
    selections = ["A", "[A]", "k", "R", "c"]
    results = roadrunner_run(DECAY, 6.0, 25, selections)
    data = export_archive(DECAY.decode(), 0.0, 6.0, 25, selections, results)
    listing = inspect_archive(data)  # our own archive passes our own checks
    assert {e.location for e in listing.entries} == {"manifest.xml", "model.xml", "simulation.sedml", "results.csv", "README.md"}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("model.xml") == DECAY
        assert pd.read_csv(zf.open("results.csv")).columns.tolist() == ["time", *selections]

    # tellurium itself, as a modeller would run it
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import tellurium

    path = tmp_path / "run.omex"
    path.write_bytes(data)
    (generators,) = tellurium.executeCombineArchive(str(path), createOutputs=False).values()
    generators = generators["dataGenerators"]
    for i, column in enumerate(["time", *selections]):
        assert np.allclose(generators[f"dg_{i}"][:, 0], results[column], rtol=1e-5, atol=1e-9), column
    # and through the sandboxed runner: same numbers, headers are the selections
    report = run_archive(data).outputs["results"]
    assert report.columns.tolist() == ["time", *selections]
    assert np.allclose(report.to_numpy(), results.to_numpy(), rtol=1e-5, atol=1e-9)
    assert math.isclose(report["A"].iloc[-1], 10 * math.exp(-1.5), rel_tol=1e-4)


def test_exported_run_with_parameter_changes_reproduces():
    import roadrunner

    rr = roadrunner.RoadRunner(DECAY.decode())
    DEFAULT_SOLVER.apply(rr)
    rr["k"] = 1.0
    rr.timeCourseSelections = ["time", "[A]"]
    results = pd.DataFrame(np.asarray(rr.simulate(0, 4, 9)), columns=["time", "[A]"])
    data = export_archive(DECAY.decode(), 0.0, 4.0, 9, ["[A]"], results, changes={"k": 1.0})
    assert inspect_archive(data).models[0].changes == 1
    report = run_archive(data).outputs["results"]
    assert np.allclose(report["[A]"], exact_concentration(report["time"], 1.0), rtol=1e-5)
    with pytest.raises(InvalidInput, match=r"changes: 'A' is not a global parameter or compartment"):
        export_archive(DECAY.decode(), 0.0, 4.0, 9, ["[A]"], results, changes={"A": 1.0})


@pytest.mark.parametrize("selections, results, match", [
    (["B"], None, r"selections: 'B' is not time, a species"),
    (["[k]"], None, r"selections: '\[k\]' is not time"),
    (["A"], pd.DataFrame({"time": [0.0, 1.0]}), r"results: no column for selection\(s\) A"),
    (["A"], pd.DataFrame({"time": [0.0, 2.0], "A": [1.0, 2.0]}), r"results: the time column is not 2 evenly spaced points"),
    (["A"], pd.DataFrame({"time": [0.0, 0.5, 1.0], "A": [1.0, 2.0, 3.0]}), r"results: 3 rows, expected one per time point \(2\)"),
])
def test_export_validates_its_inputs(selections, results, match):
    results = pd.DataFrame({"time": [0.0, 1.0], "A": [1.0, 2.0]}) if results is None else results
    with pytest.raises(InvalidInput, match=match):
        export_archive(DECAY.decode(), 0.0, 1.0, 2, selections, results)


# ------------------------------------------------------------------ Antimony both ways


def test_antimony_both_ways():
    text = omex.export_antimony(DECAY)
    assert "k = 0.5" in text and "R: A => ; k*A" in text
    sbml = omex.import_antimony(text)
    assert 'id="k"' in sbml
    with pytest.raises(ModelRefused, match=r"Antimony error"):
        omex.import_antimony("this is not antimony ((")
    with pytest.raises(ModelRefused, match=r"DTD or entity"):
        omex.export_antimony(ENTITY + DECAY[DECAY.index(b"<sbml"):])


@pytest.mark.parametrize("text, match", [
    ('import "/etc/passwd"\nmodel m\n A = 1\nend', r"Antimony 'import' statements read files from the server's disk"),
    ("x" * 200, r"Antimony text too large: limit 100 bytes"),
])
def test_antimony_that_reads_files_or_is_too_large_is_refused_before_antimony_runs(text, match):
    with pytest.raises(ModelRefused, match=match):
        omex.import_antimony(text, LabLimits(max_bytes=100) if len(text) == 200 else LabLimits())


def test_sbml_with_comp_external_files_is_not_given_to_antimony():
    with pytest.raises(ModelRefused, match=r"comp external model files; flatten it first"):
        omex.export_antimony(with_external("sub.xml"))


@needs_corpus
def test_a_corpus_model_with_events_and_compartments_exports_and_reruns_identically():
    sbml = (CORPUS / "models" / "bsim_BIOMD0000000087.xml").read_bytes()  # 2 compartments, 9 events
    selections = ["Ctelo", "Utelo", "Cdc13", "[Ctelo]", "[Rad17Utelo]"]
    results = roadrunner_run(sbml, 50.0, 51, selections)
    report = run_archive(export_archive(sbml.decode(), 0.0, 50.0, 51, selections, results)).outputs["results"]
    assert np.allclose(report.to_numpy(), results.to_numpy(), rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ qsp.lab.check verdicts (move beside the check's tests when porting)


@pytest.mark.parametrize("old, new, code", [
    (b'<model id="decay">', b'<model id="decay"><notes><p>plain notes</p></notes>', 10801),  # notes outside XHTML
    (b'<model id="decay">', b'<model id="decay" metaid="m1"><listOfUnitDefinitions><unitDefinition id="u" metaid="m1">'
     b'<listOfUnits><unit kind="second" exponent="1" scale="0" multiplier="1"/></listOfUnits></unitDefinition>'
     b'</listOfUnitDefinitions>', 10307),  # duplicate metaid
])
def test_notes_and_annotation_errors_are_warnings_when_the_model_simulates(old, new, code):
    from qsp.lab.check import SIMULATABLE, check_sbml

    report = check_sbml(DECAY.replace(old, new))
    assert report.verdict == SIMULATABLE and report.ok
    (notes,) = [i for i in report.issues if i.code == code]
    assert notes.severity == "warning" and "compiles and simulates" in notes.message
    assert re.fullmatch(r"simulatable, with \d+ warnings?", report.summary)


def test_notes_error_stays_an_error_when_the_model_is_broken_anyway():
    from qsp.lab.check import INVALID, check_sbml

    broken = DECAY.replace(b'<model id="decay">', b'<model id="decay"><notes><p>x</p></notes>').replace(
        b'compartment="c"', b'compartment="nowhere"')
    report = check_sbml(broken)
    assert report.verdict == INVALID and not report.ok
    assert any(i.code == 10801 and i.severity == "error" for i in report.issues)
    assert report.summary.startswith("invalid: ")


@pytest.mark.parametrize("limits, code, hint", [
    (LabLimits(max_bytes=100), "limit.size", r"limit 100 bytes \(raise it with the environment variable QSP_LAB_MAX_BYTES\)"),
    (LabLimits(max_components=2), "limit.components", r"limit 2 \(raise it with the environment variable QSP_LAB_MAX_COMPONENTS\)"),
])
def test_a_refusal_says_which_limit_and_how_to_raise_it(limits, code, hint):
    from qsp.lab.check import REFUSED, check_sbml

    report = check_sbml(DECAY, limits)
    assert report.verdict == REFUSED and report.issues[0].code == code
    assert re.search(hint, report.issues[0].message) and re.search(hint, report.summary)


@pytest.mark.parametrize("sed, match", [  # the second line of defence, if the SED-ML checks ever let one through
    (sedml(change="1; open('/tmp/qsp-omex-pwned', 'w')"), r"generated code uses the name open"),
    (sedml(source="https://example.org/m.xml"), r"generated code refers to 'https://example\.org/m\.xml'"),
    (sedml(source="urn:miriam:biomodels.db:BIOMD0000000012"), r"generated code imports tellurium\.temiriam"),
])
def test_generated_code_is_checked_in_the_sandbox_before_it_runs(sed, match, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = omex._task_run_sedml([("sim.sedml", sed.decode())], {"model.xml": DECAY})
    assert re.search(match, out["documents"]["sim.sedml"]["refused"])
    assert not Path("/tmp/qsp-omex-pwned").exists()
