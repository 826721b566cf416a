"""COMBINE archives (.omex) and SED-ML: inspect safely, run with tellurium in the sandbox, export a run, Antimony.

Nothing in an untrusted archive reaches tellurium before :func:`inspect_archive` has passed it:

1. the zip itself: at most ``ArchiveLimits.max_entries`` entries, no absolute paths, ``..``, backslashes,
   symlinks, encrypted or duplicate entries, and at most ``ArchiveLimits.max_bytes`` uncompressed bytes
   (declared sizes are checked first, then decompression itself is stopped at the limit: zip bombs);
2. the manifest and every SED-ML document parsed with defusedxml (no DTD, no entities);
3. every model source is a file inside the archive or another model of the same SED-ML document
   (``source="model1"`` / ``"#model1"``): URLs, URNs (``urn:miriam:...``) and absolute paths are refused by
   name, so nothing is fetched and nothing outside the archive is read; every SBML passes the SBML gate;
4. tellurium turns SED-ML into Python source and ``exec``s it, so every SED-ML value that reaches that
   source is checked against a strict grammar (identifiers are SIds, new values are numbers, targets have
   no quotes or backslashes inside ids, ...), and in the sandbox the generated code is parsed and refused
   unless it only imports, names and calls what tellurium's own translation produces.

Runs happen in the SBML check's sandbox process (:func:`qsp.lab.check.run_sandboxed`: wall time, CPU and
address-space limits), with plots switched off: every output, report or plot, comes back as a DataFrame.
"""

from __future__ import annotations

import ast
import html
import io
import keyword
import math
import posixpath
import re
import stat
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
import numpy as np
import pandas as pd
from defusedxml import DefusedXmlException
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from qsp.engine.gate import check_sbml_text
from qsp.engine.solver import DEFAULT_SOLVER, SolverOptions
from qsp.errors import InvalidInput, ModelRefused, SimulationFailed
from qsp.lab.check import DEFAULT_LIMITS, MAX_EXTERNAL_DEPTH, LabLimits, _external_sources, count_components, run_sandboxed

# Namespaces and format identifiers of the COMBINE specifications.
MANIFEST_LOCATION = "manifest.xml"  # the archive's table of contents
MANIFEST_NS = "http://identifiers.org/combine.specifications/omex-manifest"  # namespace of manifest.xml
FORMAT_URI = "http://identifiers.org/combine.specifications/"  # prefix of COMBINE format URIs
MEDIATYPE_URI = "http://purl.org/NET/mediatypes/"  # prefix of media-type format URIs
SEDML_NS_PREFIX = "http://sed-ml.org/"  # start of every SED-ML namespace
MATHML_NS = "http://www.w3.org/1998/Math/MathML"  # MathML inside SED-ML
SBML_FORMAT = FORMAT_URI + "sbml"  # manifest format of SBML files
SEDML_FORMAT = FORMAT_URI + "sed-ml"  # manifest format of SED-ML files
TIME_SYMBOL = "urn:sedml:symbol:time"  # the only SED-ML symbol tellurium maps (to roadrunner 'time')

# Short names of formats, by a fragment of the manifest's format URI or, failing that, the file extension.
FORMAT_NAMES = (("omex-manifest", "manifest"), ("omex-metadata", "metadata"), ("sed-ml", "sed-ml"),
                ("sedml", "sed-ml"), ("sbml", "sbml"), ("cellml", "cellml"), ("sbgn", "sbgn"), ("numl", "numl"))
EXTENSION_FORMATS = {".sedml": "sed-ml", ".sbml": "sbml", ".csv": "csv", ".tsv": "tsv", ".rdf": "metadata",
                     ".md": "markdown", ".txt": "text", ".pdf": "pdf", ".png": "png", ".cellml": "cellml"}

_SID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # SBML/SED-ML identifier, also a safe Python name
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*\Z")  # a plain decimal number
_SOURCE = re.compile(r"[\w.\-+/ ()]+\Z")  # a relative file name tellurium can quote safely
_XPATH = re.compile(r"[\w:/@\[\]='\". ()*,+\-]+\Z")  # charset of a target: no backslash, no control characters
_KISAO = re.compile(r"KISAO[:_]\d{1,7}\Z")  # a KiSAO term
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")  # characters that end a line of generated Python
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")  # start of a URL or URN
_REFERENCE_ATTRS = ("id", "task", "range")  # attributes holding an SId besides every ...Reference

LIMIT_HINT = "raise it with --{flag} or the environment variable QSP_LAB_ARCHIVE_{env}"
SANDBOX_HINTS = {"timeout": "raise it with --timeout or the environment variable QSP_LAB_TIMEOUT_S",
                 "crash": "raise the memory limit with the environment variable QSP_LAB_MEMORY_MB"}
_IMPORT = re.compile(r"^\s*import\b", re.MULTILINE)  # Antimony's import statement reads files from disk


class ArchiveLimits(BaseSettings):
    """Limits for untrusted archives; settable by keyword or environment (``QSP_LAB_ARCHIVE_MAX_BYTES=...``)."""

    model_config = SettingsConfigDict(env_prefix="QSP_LAB_ARCHIVE_", extra="forbid", frozen=True)

    max_bytes: int = Field(50_000_000, gt=0, le=2_000_000_000, description="total uncompressed size, bytes")
    max_entries: int = Field(2_000, gt=0, le=100_000, description="files and folders in the zip")
    max_points: int = Field(100_001, gt=1, le=10_000_000, description="time points of one SED-ML simulation or range")

    def describe(self) -> list[str]:
        """One line per limit, for the UI and the report."""
        return [f"archive at most {self.max_entries:,} entries and {self.max_bytes:,} bytes uncompressed",
                f"each simulation or range at most {self.max_points:,} points"]


DEFAULT_ARCHIVE_LIMITS = ArchiveLimits()


# ------------------------------------------------------------------ typed listing


@dataclass(frozen=True)
class ArchiveEntry:
    """One file of an archive: where, what format, how big (bytes, uncompressed), master flag of the manifest."""

    location: str
    format: str
    format_uri: str = ""
    size: int = 0
    master: bool = False


@dataclass(frozen=True)
class SedModel:
    """A SED-ML model: ``source`` is an archive file, or ``derived_from`` another model id of the document."""

    id: str
    language: str
    source: str
    file: str | None  # archive location of the SBML file (None for derived models)
    derived_from: str | None
    changes: int


@dataclass(frozen=True)
class SedSimulation:
    """A SED-ML simulation; times and point counts only for time courses."""

    id: str
    kind: str  # uniformTimeCourse | oneStep | steadyState | ...
    algorithm: str
    initial_time: float | None = None
    output_start: float | None = None
    output_end: float | None = None
    steps: int | None = None  # intervals: steps + 1 time points


@dataclass(frozen=True)
class SedTask:
    """A SED-ML task: a simple task runs ``simulation`` on ``model``; a repeated task runs ``subtasks``."""

    id: str
    kind: str  # task | repeatedTask
    model: str | None = None
    simulation: str | None = None
    subtasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class SedCurve:
    """A curve (plot2D) or surface (plot3D): data-generator ids of its axes, a label for a legend, log axes."""

    x: str
    y: str
    z: str | None
    label: str
    log_x: bool = False
    log_y: bool = False


@dataclass(frozen=True)
class SedOutput:
    """A SED-ML output and its columns: (header, data-generator id) pairs, in order; plots also list curves."""

    id: str
    kind: str  # report | plot2D | plot3D
    name: str
    columns: tuple[tuple[str, str], ...]
    curves: tuple[SedCurve, ...] = ()


@dataclass(frozen=True)
class SedDocument:
    """One SED-ML document of an archive (``location`` inside the archive)."""

    location: str
    level: int
    version: int
    models: tuple[SedModel, ...]
    simulations: tuple[SedSimulation, ...]
    tasks: tuple[SedTask, ...]
    data_generators: tuple[str, ...]
    outputs: tuple[SedOutput, ...]


@dataclass(frozen=True)
class ArchiveListing:
    """What an archive holds, after every safety check passed; ``notes`` are things a user should know."""

    entries: tuple[ArchiveEntry, ...]
    documents: tuple[SedDocument, ...]
    notes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # archive files the SED-ML reads: models, comp external models, data

    @property
    def models(self) -> tuple[SedModel, ...]:
        return tuple(m for d in self.documents for m in d.models)

    @property
    def simulations(self) -> tuple[SedSimulation, ...]:
        return tuple(s for d in self.documents for s in d.simulations)

    @property
    def tasks(self) -> tuple[SedTask, ...]:
        return tuple(t for d in self.documents for t in d.tasks)

    @property
    def outputs(self) -> tuple[SedOutput, ...]:
        return tuple(o for d in self.documents for o in d.outputs)

    def entries_frame(self) -> pd.DataFrame:
        """The entries as a table: location, format, size (bytes), master."""
        return pd.DataFrame([(e.location, e.format, e.size, e.master) for e in self.entries],
                            columns=["location", "format", "size_bytes", "master"])


@dataclass(frozen=True)
class ArchiveRun:
    """Results of running an archive: one DataFrame per SED-ML output, keyed by output id."""

    listing: ArchiveListing
    outputs: dict[str, pd.DataFrame] = field(hash=False)
    kinds: dict[str, str] = field(hash=False)  # output key -> report | plot2D | plot3D
    messages: tuple[str, ...] = ()  # tellurium's warnings (unsupported changes, substituted algorithms, ...)

    def output_of(self, key: str) -> SedOutput | None:
        """The SED-ML output a key of ``outputs`` came from (a repeated id is prefixed by its document)."""
        ids = {o.id for o in self.listing.outputs}
        oid = key if key in ids else key.rsplit("__", 1)[-1]
        return next((o for o in self.listing.outputs if o.id == oid), None)


# ------------------------------------------------------------------ the zip


def _refuse(message: str) -> ModelRefused:
    return ModelRefused(f"archive refused: {message}")


def _clean_location(name: str, what: str) -> str:
    """A zip entry or manifest location as a normalised relative path; refuses absolute paths and '..'."""
    if not name or _CONTROL.search(name) or "\\" in name:
        raise _refuse(f"{what} {name!r}: empty, or has control characters or backslashes")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise _refuse(f"{what} {name!r} is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(f"{what} {name!r} leaves the archive ('..')")
    return "/".join(parts) or "."


def _read_zip(data: bytes, limits: ArchiveLimits) -> tuple[dict[str, bytes], dict[str, int]]:
    """Every file of the zip, checked and size-limited while decompressing; (contents, sizes)."""
    if not data.startswith(b"PK"):
        raise _refuse("not a COMBINE archive (not a zip file)")
    hint = LIMIT_HINT.format(flag="max-archive-bytes", env="MAX_BYTES")
    if len(data) > limits.max_bytes:
        raise _refuse(f"{len(data):,} bytes, limit {limits.max_bytes:,} ({hint})")
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))  # end of central directory: count before parsing it
    if end >= 0 and len(data) >= end + 12 and int.from_bytes(data[end + 10:end + 12], "little") > limits.max_entries:
        count = int.from_bytes(data[end + 10:end + 12], "little")
        if count != 0xFFFF:  # 0xFFFF: a zip64 archive keeps the real count elsewhere; checked below
            raise _refuse(f"{count:,} entries, limit {limits.max_entries:,} "
                          f"({LIMIT_HINT.format(flag='max-archive-entries', env='MAX_ENTRIES')})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, NotImplementedError) as exc:
        raise _refuse(f"not a readable zip file ({exc})") from None
    hint = LIMIT_HINT.format(flag="max-archive-entries", env="MAX_ENTRIES")
    if len(infos) > limits.max_entries:
        raise _refuse(f"{len(infos):,} entries, limit {limits.max_entries:,} ({hint})")
    declared = sum(i.file_size for i in infos)
    hint = LIMIT_HINT.format(flag="max-archive-bytes", env="MAX_BYTES")
    if declared > limits.max_bytes:
        raise _refuse(f"uncompressed size {declared:,} bytes, limit {limits.max_bytes:,} ({hint})")
    files, sizes, budget = {}, {}, limits.max_bytes
    for info in infos:
        if stat.S_ISLNK(info.external_attr >> 16):  # whatever system the zip claims to come from
            raise _refuse(f"entry {info.filename!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise _refuse(f"entry {info.filename!r} is encrypted")
        location = _clean_location(info.filename, "entry")
        if info.is_dir():
            continue
        if location in files or location == ".":
            raise _refuse(f"entry {location!r} appears twice or names the archive itself")
        chunks = []
        try:
            with archive.open(info) as stream:  # stop at the limit whatever the header declared
                while chunk := stream.read(min(1 << 20, budget + 1)):
                    budget -= len(chunk)
                    if budget < 0:
                        raise _refuse(f"decompresses to more than {limits.max_bytes:,} bytes (a zip bomb?) ({hint})")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError, RuntimeError) as exc:
            raise _refuse(f"entry {location!r} cannot be read ({exc})") from None
        files[location] = b"".join(chunks)
        sizes[location] = len(files[location])
    _check_tree(files)
    return files, sizes


def _check_tree(files: Mapping[str, bytes]) -> None:
    """Locations that can all be written as files: no file is also a folder, no name is too long."""
    for location in files:
        if len(location) > 1_000 or any(len(part) > 255 for part in location.split("/")):
            raise _refuse(f"entry {location[:80]!r}...: name too long")
        prefix = location.split("/")
        for i in range(1, len(prefix)):
            if "/".join(prefix[:i]) in files:
                raise _refuse(f"entry {'/'.join(prefix[:i])!r} is both a file and a folder")


def _parse_xml(data: bytes, what: str):
    """The root of a safely parsed XML document, or ModelRefused naming ``what``."""
    if _DECLARATION.search(data):
        raise _refuse(f"{what}: DTD or entity declarations (<!DOCTYPE/<!ENTITY) are not allowed")
    try:
        return safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _refuse(f"{what}: unsafe XML construct ({type(exc).__name__})") from None
    except ParseError as exc:
        raise _refuse(f"{what}: not well-formed XML ({exc})") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}")[0] if tag.startswith("{") else ""


def _format_name(uri: str, location: str) -> str:
    low = uri.lower()
    for fragment, name in FORMAT_NAMES:
        if fragment in low:
            return name
    if low.startswith(MEDIATYPE_URI):
        return low[len(MEDIATYPE_URI):]
    return EXTENSION_FORMATS.get(posixpath.splitext(location)[1].lower(), "xml" if location.endswith(".xml") else "other")


def _read_manifest(files: dict[str, bytes]) -> list[tuple[str, str, bool]]:
    """(location, format URI, master) of each manifest entry; locations must lie inside the archive."""
    if MANIFEST_LOCATION not in files:
        return []
    root = _parse_xml(files[MANIFEST_LOCATION], MANIFEST_LOCATION)
    if _local(root.tag) != "omexManifest":
        raise _refuse(f"{MANIFEST_LOCATION}: root element is '{_local(root.tag)}', expected 'omexManifest'")
    out = []
    for node in root:
        if _local(node.tag) != "content":
            continue
        raw = (node.get("location") or "").strip()
        if _SCHEME.match(raw) or raw.startswith("//"):
            raise _refuse(f"{MANIFEST_LOCATION} lists {raw!r}: a URL or URN, not a file of the archive")
        location = _clean_location(raw, f"{MANIFEST_LOCATION} location")
        out.append((location, node.get("format") or "", (node.get("master") or "").lower() == "true"))
    return out


# ------------------------------------------------------------------ SED-ML: what may reach tellurium's generated code


def _check_value(element: str, name: str, value: str, where: str) -> None:
    """Refuse a SED-ML attribute value tellurium would paste into Python source unsafely."""
    what = f"{where}: <{element} {name}={value!r}>"
    if _CONTROL.search(value):
        raise _refuse(f"{what}: control characters are not allowed")
    if name.endswith("Reference") or name in _REFERENCE_ATTRS:
        if not _SID.match(value) or keyword.iskeyword(value) or value.startswith("__"):
            raise _refuse(f"{what}: not an identifier (letters, digits, '_'; not a Python keyword)")
    elif name == "newValue" or (name == "value" and element == "algorithmParameter"):
        if not (_NUMBER.match(value) or value.strip().lower() in ("true", "false")):
            raise _refuse(f"{what}: must be a number")
    elif name == "kisaoID" and not _KISAO.match(value):
        raise _refuse(f"{what}: not a KiSAO id (KISAO:0000019)")
    elif name == "symbol" and value != TIME_SYMBOL:
        raise _refuse(f"{what}: only the symbol {TIME_SYMBOL} is supported")
    elif name == "target":
        if value.startswith("#"):
            if not _SID.match(value[1:]):
                raise _refuse(f"{what}: not '#' followed by an identifier")
        elif not _XPATH.match(value) or any(not _SID.match(i) for i in re.findall(r"id='(.*?)'", value.replace('"', "'"))):
            raise _refuse(f"{what}: not a plain XPath to an SBML element by id")
    elif name in ("numberOfPoints", "numberOfSteps") and not value.strip().isdigit():
        raise _refuse(f"{what}: not a whole number")


def _check_math(node, where: str) -> None:
    """MathML of SED-ML: identifiers, numbers and operators only."""
    for el in node.iter():
        local, text = _local(el.tag), (el.text or "").strip()
        if _namespace(el.tag) != MATHML_NS:
            raise _refuse(f"{where}: element <{local}> inside MathML")
        if local in ("ci", "csymbol") and (not _SID.match(text) or text.startswith("__")):
            raise _refuse(f"{where}: <{local}>{text!r}: not an identifier")
        if local == "cn" and not all(_NUMBER.match(t) for t in "".join(el.itertext()).split() or ["?"]):
            raise _refuse(f"{where}: <cn>{''.join(el.itertext())!r}: not a number")
        if local not in ("ci", "csymbol", "cn") and text:
            raise _refuse(f"{where}: unexpected text {text!r} in <{local}>")
        for attr, value in el.attrib.items():
            if _CONTROL.search(value):
                raise _refuse(f"{where}: control characters in MathML attribute {_local(attr)}")


def _check_sedml_tree(root, location: str) -> None:
    """Every SED-ML element's attributes and text against the grammar tellurium's translation needs."""
    stack = [root]
    while stack:
        el = stack.pop()
        ns, local = _namespace(el.tag), _local(el.tag)
        if ns == MATHML_NS:
            _check_math(el, location)
            continue
        if not ns.startswith(SEDML_NS_PREFIX):
            continue  # notes and annotations: never read by tellurium's translation
        for attr, value in el.attrib.items():
            _check_value(local, _local(attr), value, location)
        text = (el.text or "").strip()
        if text and not (local == "value" and _NUMBER.match(text)):
            raise _refuse(f"{location}: unexpected text {text[:40]!r} in <{local}>")
        stack.extend(el)


def _children(node, name: str) -> list:
    """SED-ML elements called ``name`` anywhere below ``node`` (not inside notes or annotations)."""
    return [c for c in node.iter() if _local(c.tag) == name and _namespace(c.tag).startswith(SEDML_NS_PREFIX)]


def _float(node, name: str) -> float | None:
    value = node.get(name)
    return float(value) if value is not None and _NUMBER.match(value) else None


def _resolve_source(source: str, model_ids: set[str], sedml_location: str, files: Mapping[str, bytes],
                    where: str, what: str = "model source") -> tuple[str | None, str | None]:
    """(archive file, derived-from model id) of a source; ModelRefused naming anything else."""
    if source.startswith("#") and source[1:] in model_ids:
        return None, source[1:]
    if source in model_ids:
        return None, source
    if source.lower().startswith("urn:"):
        raise _refuse(f"{where}: {what} {source!r} is a URN: nothing is fetched; put the model file in the archive")
    if _SCHEME.match(source) or source.startswith("//"):
        raise _refuse(f"{where}: {what} {source!r} is a URL: nothing is fetched; put the model file in the archive")
    if source.startswith("/") or re.match(r"[A-Za-z]:[\\/]", source):
        raise _refuse(f"{where}: {what} {source!r} is an absolute path: only files inside the archive are read")
    if not _SOURCE.match(source):
        raise _refuse(f"{where}: {what} {source!r}: a file name may only hold letters, digits, ' ._-+/()'")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(sedml_location), source))
    if joined.startswith("../") or joined == "..":
        raise _refuse(f"{where}: {what} {source!r} leaves the archive")
    if joined not in files:
        raise _refuse(f"{where}: {what} {source!r} is not a file of the archive")
    return joined, None


def _path_text(ids: list[str]) -> str:
    """A chain of ids for a message: all of a short one, the ends of a long one."""
    return " -> ".join(ids if len(ids) <= 8 else [*ids[:4], f"... ({len(ids) - 7} more)", *ids[-3:]])


def _derived_roots(models: dict[str, SedModel], where: str) -> None:
    """Refuse models that derive from each other in a cycle; linear time."""
    resolved: set[str] = set()
    for mid in models:
        seen, current = {mid: None}, models[mid]  # dict: ordered, constant-time membership
        while current.derived_from is not None and current.derived_from not in resolved:
            if current.derived_from in seen:
                raise _refuse(f"{where}: models derive from each other in a cycle: {_path_text([*seen, current.derived_from])}")
            seen[current.derived_from] = None
            current = models[current.derived_from]
        resolved.update(seen)


def _check_subtask_cycles(subtasks: dict[str, tuple[str, ...]], where: str) -> None:
    """Refuse repeated tasks that contain themselves (tellurium would recurse without end); linear time."""
    done: set[str] = set()
    for root in subtasks:
        if root in done:
            continue
        path, on_path, stack = [root], {root}, [iter(subtasks.get(root, ()))]
        while stack:
            sub = next(stack[-1], None)
            if sub is None:  # every subtask of path[-1] explored
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif sub in on_path:
                raise _refuse(f"{where}: repeated tasks contain each other in a cycle: {_path_text([*path, sub])}")
            elif sub not in done:
                path.append(sub)
                on_path.add(sub)
                stack.append(iter(subtasks.get(sub, ())))


def _read_sedml_root(data: bytes, location: str, max_depth: int):
    """The parsed root of a SED-ML document, after the encoding, root, depth and grammar checks."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(f"{location}: not UTF-8 text") from None
    root = _parse_xml(data, location)
    if _local(root.tag) != "sedML" or not _namespace(root.tag).startswith(SEDML_NS_PREFIX):
        raise _refuse(f"{location}: root element is '{_local(root.tag)}', expected 'sedML' in '{SEDML_NS_PREFIX}...'")
    depth = count_components(root)[1]
    if depth > max_depth:
        raise _refuse(f"{location}: XML nested {depth} levels deep, limit {max_depth} "
                      "(raise it with the environment variable QSP_LAB_MAX_DEPTH)")
    _check_sedml_tree(root, location)
    return root


def _parse_models(root, location: str, files: Mapping[str, bytes], notes: list[str], reads: list[str]
                  ) -> dict[str, SedModel]:
    """The document's models by id (sources resolved inside the archive); appends to ``notes`` and ``reads``."""
    model_nodes = _children(root, "model")
    model_ids = {m.get("id") for m in model_nodes}
    models = {}
    for node in model_nodes:
        mid, language, source = node.get("id"), node.get("language") or "", (node.get("source") or "").strip()
        where = f"{location}, model {mid!r}"
        if not mid:
            raise _refuse(f"{location}: a model has no id")
        if language and "sbml" not in language.lower():
            raise _refuse(f"{where}: language {language!r} is not supported (SBML only)")
        if source in (mid, f"#{mid}"):
            raise _refuse(f"{where}: model source {source!r} is the model itself")
        file, derived = _resolve_source(source, model_ids, location, files, where)
        if file:
            reads.append(file)
        changes = [c for listing in _children(node, "listOfChanges") for c in listing]
        for change in changes:
            if _local(change.tag) not in ("changeAttribute", "computeChange"):
                notes.append(f"{where}: change <{_local(change.tag)}> is not supported by tellurium and is ignored")
        models[mid] = SedModel(mid, language, source, file, derived, len(changes))
    _derived_roots(models, location)
    return models


def _parse_simulations(root, location: str, limits: ArchiveLimits, notes: list[str]) -> list[SedSimulation]:
    """The supported simulations (point counts within the limit); notes for the others."""
    simulations = []
    for kind in ("uniformTimeCourse", "oneStep", "steadyState"):
        for node in _children(root, kind):
            algorithm = next((a.get("kisaoID", "") for a in _children(node, "algorithm")), "")
            steps = node.get("numberOfSteps") or node.get("numberOfPoints")
            steps = int(steps) if steps else None
            if steps is not None and steps + 1 > limits.max_points:
                raise _refuse(f"{location}, simulation {node.get('id')!r}: {steps + 1:,} time points, limit "
                              f"{limits.max_points:,} ({LIMIT_HINT.format(flag='max-points', env='MAX_POINTS')})")
            simulations.append(SedSimulation(node.get("id"), kind, algorithm, _float(node, "initialTime"),
                                             _float(node, "outputStartTime"), _float(node, "outputEndTime"), steps))
    known = {"uniformTimeCourse", "oneStep", "steadyState"}
    for node in _children(root, "listOfSimulations"):
        for sim in node:
            if _local(sim.tag) not in known and _namespace(sim.tag).startswith(SEDML_NS_PREFIX):
                notes.append(f"{location}: simulation <{_local(sim.tag)}> is not supported by tellurium")
    return simulations


def _check_ranges(root, location: str, limits: ArchiveLimits) -> None:
    """Refuse a repeated task's range with more points than the limit."""
    for node in _children(root, "uniformRange") + _children(root, "vectorRange"):
        n = int(node.get("numberOfPoints") or node.get("numberOfSteps") or 0) + 1 if _local(node.tag) == "uniformRange" \
            else len(_children(node, "value"))
        if n > limits.max_points:
            raise _refuse(f"{location}, range {node.get('id')!r}: {n:,} points, limit {limits.max_points:,} "
                          f"({LIMIT_HINT.format(flag='max-points', env='MAX_POINTS')})")


def _parse_tasks(root, location: str, models: dict[str, SedModel], simulations: list[SedSimulation]) -> list[SedTask]:
    """Tasks and repeated tasks whose references are defined and whose subtasks form no cycle."""
    tasks = [SedTask(t.get("id"), "task", t.get("modelReference"), t.get("simulationReference"))
             for t in _children(root, "task")]
    tasks += [SedTask(t.get("id"), "repeatedTask", subtasks=tuple(s.get("task") for s in _children(t, "subTask")))
              for t in _children(root, "repeatedTask")]
    task_ids, simulation_ids = {t.id for t in tasks}, {s.id for s in simulations}
    for task in tasks:
        if task.kind == "task" and task.model not in models:
            raise _refuse(f"{location}, task {task.id!r}: model {task.model!r} is not defined")
        if task.kind == "task" and task.simulation not in simulation_ids:
            raise _refuse(f"{location}, task {task.id!r}: simulation {task.simulation!r} is not a supported simulation")
        missing = [s for s in task.subtasks if s not in task_ids]
        if missing:
            raise _refuse(f"{location}, task {task.id!r}: subtask {missing[0]!r} is not defined")
    _check_subtask_cycles({t.id: t.subtasks for t in tasks}, location)
    return tasks


def _parse_generators(root, location: str, tasks: list[SedTask], notes: list[str]) -> dict:
    """Data-generator nodes by id, each reading defined tasks; a note where tellurium reports the wrong run."""
    task_ids = {t.id for t in tasks}
    generators = {g.get("id"): g for g in _children(root, "dataGenerator")}
    for gid, node in generators.items():
        for var in _children(node, "variable"):
            if var.get("taskReference") and var.get("taskReference") not in task_ids:
                raise _refuse(f"{location}, data generator {gid!r}: task {var.get('taskReference')!r} is not defined")
    read = {v.get("taskReference") for g in generators.values() for v in _children(g, "variable")}
    for task in tasks:
        for sub in (s for s in task.subtasks if s in read):  # tellurium 2.2 keeps one result variable per task
            notes.append(f"{location}: task {sub!r} is also a subtask of {task.id!r}: tellurium reports the last "
                         f"repeat of {task.id!r} for it, not its own run")
    return generators


def _parse_data_descriptions(root, location: str, files: Mapping[str, bytes], reads: list[str]) -> None:
    """Check every data description's source (an archive file without DTD); appends to ``reads``."""
    for node in _children(root, "dataDescription"):
        source = (node.get("source") or "").strip()
        where = f"{location}, data description {node.get('id')!r}"
        file, _ = _resolve_source(source, set(), location, files, where, "source")
        if _DECLARATION.search(files[file]):
            raise _refuse(f"{where}: {file!r} has DTD or entity declarations (<!DOCTYPE/<!ENTITY), which are not allowed")
        reads.append(file)


def _parse_output(out, location: str, generators: dict, notes: list[str]) -> SedOutput | None:
    """One report or plot with its columns (None, with a note, for an unsupported output)."""
    kind, oid = _local(out.tag), out.get("id")
    curves = []
    if kind == "report":
        columns = [(d.get("label") or d.get("dataReference"), d.get("dataReference")) for d in _children(out, "dataSet")]
    elif kind in ("plot2D", "plot3D"):
        curves = [SedCurve(c.get("xDataReference"), c.get("yDataReference"), c.get("zDataReference"),
                           c.get("name") or _generator_label(generators, c.get("zDataReference") or c.get("yDataReference")),
                           c.get("logX") == "true", c.get("logY") == "true")
                  for c in _children(out, "curve") + _children(out, "surface")]
        refs = [r for c in curves for r in (c.x, c.y, c.z) if r]
        columns = [(r, r) for r in dict.fromkeys(refs)]
    else:
        notes.append(f"{location}: output <{kind}> {oid!r} is not supported and is skipped")
        return None
    unknown = [ref for _, ref in columns if ref not in generators]
    if unknown:
        raise _refuse(f"{location}, output {oid!r}: data generator {unknown[0]!r} is not defined")
    return SedOutput(oid, kind, out.get("name") or "", tuple(columns), tuple(curves) if kind != "report" else ())


def _parse_sedml(data: bytes, location: str, files: Mapping[str, bytes], limits: ArchiveLimits, max_depth: int
                 ) -> tuple[SedDocument, list[str], list[str]]:
    """A checked SED-ML document, the archive files it reads, and notes for the user."""
    root = _read_sedml_root(data, location, max_depth)
    notes, reads = [], []
    models = _parse_models(root, location, files, notes, reads)
    simulations = _parse_simulations(root, location, limits, notes)
    _check_ranges(root, location, limits)
    tasks = _parse_tasks(root, location, models, simulations)
    generators = _parse_generators(root, location, tasks, notes)
    _parse_data_descriptions(root, location, files, reads)
    outputs = [o for node in _children(root, "listOfOutputs") for out in node
               if (o := _parse_output(out, location, generators, notes)) is not None]
    level, version = root.get("level", "1"), root.get("version", "1")
    doc = SedDocument(location, int(level) if level.isdigit() else 1, int(version) if version.isdigit() else 1,
                      tuple(models.values()), tuple(simulations), tuple(tasks), tuple(generators), tuple(outputs))
    return doc, reads, notes


def _generator_label(generators: dict, gid: str | None) -> str:
    node = generators.get(gid)
    return (node.get("name") if node is not None else None) or gid or ""


def _gate_sbml(data: bytes, location: str, files: Mapping[str, bytes], lab_limits: LabLimits, depth: int = 0) -> set[str]:
    """The SBML gate and the lab's structure limits, with the file named in the refusal; returns external files read.

    comp external model files must be files of the archive too (gated the same way, at most 3 levels deep).
    """
    reads: set[str] = set()
    try:
        text = check_sbml_text(data, max_bytes=lab_limits.max_bytes)
    except ModelRefused as exc:
        raise _refuse(f"model {location!r}: {exc}") from None
    root = safe_et.fromstring(text)
    for source in _external_sources(root):
        where = f"model {location!r}"
        file, _ = _resolve_source(source.strip(), set(), location, files, where, "comp external model")
        if depth >= MAX_EXTERNAL_DEPTH:
            raise _refuse(f"{where}: comp external models nested deeper than {MAX_EXTERNAL_DEPTH} levels")
        reads |= _gate_sbml(files[file], file, files, lab_limits, depth + 1) | {file}
    counts, nesting = count_components(root)
    if nesting > lab_limits.max_depth:
        raise _refuse(f"model {location!r}: XML nested {nesting} levels deep, limit {lab_limits.max_depth} "
                      "(raise it with the environment variable QSP_LAB_MAX_DEPTH)")
    if counts["total"] > lab_limits.max_components:
        raise _refuse(f"model {location!r}: {counts['total']:,} components, limit {lab_limits.max_components:,} "
                      "(raise it with the environment variable QSP_LAB_MAX_COMPONENTS)")
    return reads


def _inspect_files(files: dict[str, bytes], sizes: dict[str, int], manifest: list[tuple[str, str, bool]],
                   sedml_locations: list[str], limits: ArchiveLimits, lab_limits: LabLimits) -> ArchiveListing:
    formats = {loc: (fmt, master) for loc, fmt, master in manifest}
    notes = [f"{MANIFEST_LOCATION} lists {loc!r}, which is not in the archive"
             for loc in formats if loc not in files and loc not in (".", MANIFEST_LOCATION)]
    formats.setdefault(MANIFEST_LOCATION, (FORMAT_URI + "omex-manifest", False))
    entries = tuple(ArchiveEntry(loc, _format_name(formats.get(loc, ("", False))[0], loc), formats.get(loc, ("", False))[0],
                                 sizes.get(loc, 0), formats.get(loc, ("", False))[1]) for loc in files)
    if not sedml_locations:
        raise _refuse("no SED-ML document (nothing to run): the manifest lists none and no file ends in .sedml")
    documents, sbml, reads = [], {e.location for e in entries if e.format == "sbml"}, set()
    for location in sedml_locations:
        if location not in files:
            raise _refuse(f"SED-ML document {location!r} is listed but not in the archive")
        doc, doc_reads, doc_notes = _parse_sedml(files[location], location, files, limits, lab_limits.max_depth)
        documents.append(doc)
        notes += doc_notes
        reads |= set(doc_reads)
        sbml |= {m.file for m in doc.models if m.file}
    for location in sorted(sbml):
        if location in files:
            reads |= _gate_sbml(files[location], location, files, lab_limits)
    return ArchiveListing(entries, tuple(documents), tuple(notes), tuple(sorted(reads)))


def _sedml_locations(files: Mapping[str, bytes], manifest: list[tuple[str, str, bool]]) -> list[str]:
    """The SED-ML documents to run: the manifest's masters if it marks any (as BioSimulations does), else all."""
    listed = [(loc, master) for loc, fmt, master in manifest if _format_name(fmt, loc) == "sed-ml"]
    masters = [loc for loc, master in listed if master]
    return masters or [loc for loc, _ in listed] or sorted(loc for loc in files if loc.lower().endswith(".sedml"))


def _open_archive(data: bytes, limits: ArchiveLimits, lab_limits: LabLimits) -> tuple[ArchiveListing, dict[str, bytes]]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"archive: expected the archive's bytes (got {type(data).__name__}); a path is not read")
    files, sizes = _read_zip(bytes(data), limits)
    manifest = _read_manifest(files)
    listing = _inspect_files(files, sizes, manifest, _sedml_locations(files, manifest), limits, lab_limits)
    return listing, files


def _open_sedml(sedml: str | bytes, files: Mapping[str, bytes], limits: ArchiveLimits, lab_limits: LabLimits,
                name: str) -> tuple[ArchiveListing, dict[str, bytes]]:
    data = sedml.encode("utf-8") if isinstance(sedml, str) else bytes(sedml)
    if len(files) + 1 > limits.max_entries:
        raise _refuse(f"{len(files) + 1:,} files, limit {limits.max_entries:,}")
    total = len(data) + sum(len(v) for v in files.values())
    if total > limits.max_bytes:
        raise _refuse(f"{total:,} bytes, limit {limits.max_bytes:,} "
                      f"({LIMIT_HINT.format(flag='max-archive-bytes', env='MAX_BYTES')})")
    cleaned = {}
    for key, value in files.items():
        location = _clean_location(str(key), "file name")
        if not isinstance(value, bytes | bytearray):
            raise InvalidInput(f"files[{key!r}]: expected bytes (got {type(value).__name__})")
        cleaned[location] = bytes(value)
    name = _clean_location(name, "SED-ML name")
    cleaned[name] = data
    sizes = {k: len(v) for k, v in cleaned.items()}
    manifest = [(name, SEDML_FORMAT, True)]
    return _inspect_files(cleaned, sizes, manifest, [name], limits, lab_limits), cleaned


def inspect_archive(data: bytes, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
                    lab_limits: LabLimits = DEFAULT_LIMITS) -> ArchiveListing:
    """List a COMBINE archive's contents after every safety check; raise ModelRefused naming what failed.

    ``data``: the archive's bytes (a path is never opened).

    >>> inspect_archive(b"not a zip")
    Traceback (most recent call last):
    ...
    qsp.errors.ModelRefused: archive refused: not a COMBINE archive (not a zip file)
    """
    return _open_archive(data, limits, lab_limits)[0]


def inspect_sedml(sedml: str | bytes, files: Mapping[str, bytes], limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
                  lab_limits: LabLimits = DEFAULT_LIMITS, name: str = "simulation.sedml") -> ArchiveListing:
    """Like :func:`inspect_archive` for a bare SED-ML text and its files (name relative to the SED-ML -> bytes)."""
    return _open_sedml(sedml, files, limits, lab_limits, name)[0]


# ------------------------------------------------------------------ running (the sandbox side)

# Modules tellurium's generated code imports (its template header), and nothing else.
_ALLOWED_IMPORTS = {"tellurium", "roadrunner", "tellurium.sedml.mathml", "tellurium.sedml.tesedml", "numpy",
                    "matplotlib.pyplot", "mpl_toolkits.mplot3d", "libsedml", "tesedml", "pandas", "os.path"}
# Attributes the generated code uses (model runners, numpy, lists); anything else is refused.
_ALLOWED_ATTRS = {
    "loadSBMLModel", "setLastReport", "path", "join", "LOADSBMLOPTIONS_RECOMPILE",
    "setIntegrator", "setSteadyStateSolver", "integrator", "steadyStateSolver", "setValue", "conservedMoietyAnalysis",
    "timeCourseSelections", "steadyStateSelections", "simulate", "steadyStateNamedArray", "resetAll",
    "getCurrentSBML", "getInitialAssignmentIds", "removeInitialAssignment", "getParamPromotedSBML",
    "extend", "append", "shape", "column_stack", "concatenate", "transpose", "array", "cumsum", "insert", "linspace",
    "logspace", "log10", "nanmax", "nanmin", "nansum", "prod", "nan", "inf", "float64", "int64", "reshape",
}
# Module-level names the generated code may never touch.
_FORBIDDEN_NAMES = {"eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
                    "locals", "vars", "input", "breakpoint", "__builtins__", "exit", "quit", "help", "memoryview",
                    "type", "object", "super", "dir", "print", "os", "plt", "pandas", "libsedml", "temiriam"}
_FORBIDDEN_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.Global, ast.Nonlocal,
                    ast.With, ast.AsyncWith, ast.Await, ast.Yield, ast.YieldFrom, ast.Delete, ast.Raise)


def check_generated_code(code: str, working_dir: str) -> None:
    """Refuse tellurium-generated Python that does more than load archive files and simulate them."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, _FORBIDDEN_NODES):
            raise _refuse(f"generated code has a {type(node).__name__} statement")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if any(n not in _ALLOWED_IMPORTS for n in names):
                raise _refuse(f"generated code imports {', '.join(names)}")
        elif isinstance(node, ast.Attribute) and node.attr not in _ALLOWED_ATTRS:
            raise _refuse(f"generated code uses the attribute .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES:
            if not (node.id == "os" and isinstance(node.ctx, ast.Load)):  # os.path.join only (attributes are checked)
                raise _refuse(f"generated code uses the name {node.id}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if value != working_dir and ("://" in value or value.startswith("/") or ".." in value.split("/")
                                         or value.lower().startswith("urn:")):
                if "\n" not in value:  # the module docstring (a comment block) is never executed
                    raise _refuse(f"generated code refers to {value!r}")


def _task_run_sedml(documents: list[tuple[str, str]], files: dict[str, bytes]) -> dict:
    """Sandbox task: write the checked files to a private folder, translate each SED-ML, check and run it."""
    import contextlib
    import os
    import tempfile
    import warnings

    os.environ["MPLBACKEND"] = "Agg"  # no window, ever
    os.environ.pop("PROCESS_TRACE", None)  # tellurium reads it while generating code
    out = {"documents": {}, "messages": []}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")  # tellurium's import complains about optional packages
        from tellurium.sedml.tesedml import SEDMLCodeFactory
    with tempfile.TemporaryDirectory(prefix="qsp-omex-") as tmp, warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(io.StringIO()), contextlib.chdir(tmp):  # relative paths resolve in the run's folder
        warnings.simplefilter("always")
        for location, data in files.items():
            path = os.path.realpath(os.path.join(tmp, *location.split("/")))
            if not path.startswith(os.path.realpath(tmp) + os.sep):
                raise ValueError(f"refusing to write {location!r} outside the run's folder")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "xb") as fh:
                fh.write(data)
        for location, text in documents:
            working_dir = os.path.join(tmp, *posixpath.dirname(location).split("/")) if "/" in location else tmp
            try:
                factory = SEDMLCodeFactory(text, workingDir=working_dir, createOutputs=False)
                code = factory.toPython()
            except Exception as exc:  # tellurium raises anything while translating
                out["documents"][location] = {"failed": f"tellurium could not translate it: {type(exc).__name__}: {exc}"}
                continue
            try:
                check_generated_code(code, working_dir)
            except ModelRefused as exc:
                out["documents"][location] = {"refused": str(exc)}
                continue
            symbols: dict = {}
            try:
                exec(compile(code, f"<{location}>", "exec"), symbols)  # noqa: S102  checked above
                ids = [g.getId() for g in factory.doc.getListOfDataGenerators()]
                generators = {gid: np.asarray(symbols[gid], dtype=float) for gid in ids if gid in symbols}
            except Exception as exc:
                message = " ".join(str(exc).split(", at ")[0].split())
                out["documents"][location] = {"failed": f"{type(exc).__name__}: {message}"}
                continue
            out["documents"][location] = {"generators": generators}
        out["messages"] = list(dict.fromkeys(str(w.message).strip() for w in caught))[:50]
    return out


def _output_frame(output: SedOutput, generators: dict[str, np.ndarray]) -> pd.DataFrame:
    """One DataFrame per output: a column per (header, data generator), repeats stacked as tellurium's reports do."""
    columns = []
    for _, gid in output.columns:
        values = np.asarray(generators[gid], dtype=float)
        values = values.reshape(-1, 1) if values.ndim < 2 else values
        columns.append(values.T.reshape(-1))  # repeat after repeat, each one row per time point
    rows = max((len(c) for c in columns), default=0)
    data = {i: np.pad(c, (0, rows - len(c)), constant_values=np.nan) for i, c in enumerate(columns)}
    frame = pd.DataFrame(data)
    frame.columns = [header for header, _ in output.columns]
    return frame


def _run(listing: ArchiveListing, files: dict[str, bytes], lab_limits: LabLimits) -> ArchiveRun:
    needed = set(listing.reads)
    documents = [(d.location, files[d.location].decode("utf-8")) for d in listing.documents]
    payload = {"documents": documents, "files": {loc: files[loc] for loc in needed}}
    result = run_sandboxed("run_sedml", payload, lab_limits)
    if "error" in result:
        hint = SANDBOX_HINTS.get(result.get("sandbox"))
        raise SimulationFailed(f"running the archive failed: {result['error']}" + (f" ({hint})" if hint else ""))
    outputs, kinds, failures = {}, {}, []
    for doc in listing.documents:
        res = result["documents"][doc.location]
        if "refused" in res:
            raise ModelRefused(f"{doc.location}: {res['refused']}")
        if "failed" in res:
            failures.append(f"{doc.location}: {res['failed']}")
            continue
        for output in doc.outputs:
            missing = [gid for _, gid in output.columns if gid not in res["generators"]]
            if missing:
                failures.append(f"{doc.location}, output {output.id!r}: data generator {missing[0]!r} was not computed")
                continue
            key = output.id if output.id not in outputs else f"{posixpath.splitext(doc.location)[0]}__{output.id}"
            outputs[key] = _output_frame(output, res["generators"])
            kinds[key] = output.kind
    if failures:
        raise SimulationFailed("a SED-ML task failed: " + "; ".join(failures))
    return ArchiveRun(listing, outputs, kinds, tuple(result["messages"]))


def run_archive(data: bytes, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
                lab_limits: LabLimits = DEFAULT_LIMITS) -> ArchiveRun:
    """Inspect a COMBINE archive, then run all its SED-ML with tellurium in the sandbox.

    Raises ModelRefused when the archive is refused (CLI exit 2) and SimulationFailed when a task
    fails or a time/memory limit of ``lab_limits`` is hit (CLI exit 1). Returns one DataFrame per output.
    """
    listing, files = _open_archive(data, limits, lab_limits)
    return _run(listing, files, lab_limits)


def run_sedml(sedml: str | bytes, files: Mapping[str, bytes], limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
              lab_limits: LabLimits = DEFAULT_LIMITS, name: str = "simulation.sedml") -> ArchiveRun:
    """Like :func:`run_archive` for a bare SED-ML text and its files (name relative to the SED-ML -> bytes)."""
    listing, checked = _open_sedml(sedml, files, limits, lab_limits, name)
    return _run(listing, checked, lab_limits)


def write_outputs(run: ArchiveRun, directory: str | Path) -> list[Path]:
    """Write ``OUTPUT_ID.csv`` per output into an existing directory (header row, one row per time point)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInput(f"directory: not an existing directory: {directory}")
    paths = []
    for key, frame in run.outputs.items():
        path = directory / f"{key.replace('/', '__')}.csv"
        frame.to_csv(path, index=False, float_format="%.17g")
        paths.append(path)
    return paths


# ------------------------------------------------------------------ export a run


def _sbml_kinds(sbml: str) -> tuple[dict[str, str], dict[str, str], str]:
    """(id -> kind, species -> compartment, SBML language URN) from a gated SBML text."""
    root = safe_et.fromstring(sbml)
    kinds, compartment_of = {}, {}
    for node in root.iter():
        local, sid = _local(node.tag), node.get("id")
        if local in ("species", "parameter", "compartment", "reaction") and sid:
            kinds[sid] = local
            if local == "species":
                compartment_of[sid] = node.get("compartment")
    level, version = root.get("level", "3"), root.get("version", "2")
    return kinds, compartment_of, f"urn:sedml:language:sbml.level-{level}.version-{version}"


def _tellurium_reads(xpath: str) -> str:
    """How tellurium 2.2 resolves a target (substring tests, in its order): 'concentration' or 'value'."""
    if "parameter" in xpath:
        return "value"
    return "concentration" if "species" in xpath else "value"


_XPATHS = {"species": "/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='{}']",
           "parameter": "/sbml:sbml/sbml:model/sbml:listOfParameters/sbml:parameter[@id='{}']",
           "compartment": "/sbml:sbml/sbml:model/sbml:listOfCompartments/sbml:compartment[@id='{}']",
           "reaction": "/sbml:sbml/sbml:model/sbml:listOfReactions/sbml:reaction[@id='{}']"}


def _attr(value: str) -> str:
    """Text for a double-quoted XML attribute (single quotes of XPaths stay readable)."""
    return html.escape(value, quote=False).replace('"', "&quot;")


def _variable(vid: str, xpath: str) -> str:
    return f'<variable id="{vid}" target="{_attr(xpath)}" taskReference="task1" modelReference="model1"/>'


def _math(body: str) -> str:
    return f'<math xmlns="{MATHML_NS}">{body}</math>'


def _data_generator(index: int, selection: str, kinds: dict[str, str], compartment_of: dict[str, str]) -> str:
    """SED-ML data generator reproducing one roadrunner selection (time, X amount, [X] concentration, parameter...)."""
    dg = f"dg_{index}"
    if selection == "time":
        return (f'<dataGenerator id="{dg}" name="time"><listOfVariables><variable id="v{index}" symbol="{TIME_SYMBOL}" '
                f'taskReference="task1"/></listOfVariables>{_math(f"<ci>v{index}</ci>")}</dataGenerator>')
    concentration = selection.startswith("[") and selection.endswith("]")
    sid = selection[1:-1] if concentration else selection
    kind = kinds.get(sid)
    if kind is None or (concentration and kind != "species"):
        raise InvalidInput(f"selections: {selection!r} is not time, a species (X amount, [X] concentration), "
                           "parameter, compartment or reaction of the model")
    xpath = _XPATHS[kind].format(sid)
    read = _tellurium_reads(xpath)
    name = html.escape(selection, quote=True)
    variables, body = [_variable(f"v{index}", xpath)], f"<ci>v{index}</ci>"
    if kind == "species":
        comp = compartment_of[sid]
        variables.append(_variable(f"c{index}", _XPATHS["compartment"].format(comp)))
        if _tellurium_reads(_XPATHS["compartment"].format(comp)) != "value":
            raise InvalidInput(f"selections: {selection!r}: tellurium cannot read the size of compartment {comp!r} "
                               "(its id contains 'species')")
        if not concentration and read == "concentration":  # amount = concentration x compartment size
            body = f"<apply><times/><ci>v{index}</ci><ci>c{index}</ci></apply>"
        elif concentration and read == "value":
            body = f"<apply><divide/><ci>v{index}</ci><ci>c{index}</ci></apply>"
        else:
            variables.pop()
    elif read != "value":
        raise InvalidInput(f"selections: {selection!r}: tellurium would read this {kind} as a species "
                           "(its id contains 'species'); rename it to export the run")
    return (f'<dataGenerator id="{dg}" name="{name}"><listOfVariables>{"".join(variables)}</listOfVariables>'
            f'{_math(body)}</dataGenerator>')


def _changes_xml(changes: Mapping[str, float], kinds: dict[str, str]) -> str:
    """SED-ML changeAttribute elements setting parameter and compartment values (model units)."""
    problems, items = [], []
    for sid, value in changes.items():
        if kinds.get(sid) not in ("parameter", "compartment"):
            problems.append(f"changes: {sid!r} is not a global parameter or compartment of the model "
                            "(set species initial values in the SBML itself)")
        elif not (isinstance(value, int | float) and math.isfinite(value)):
            problems.append(f"changes: {sid} must be a finite number (got {value!r})")
        else:
            target = _XPATHS[kinds[sid]].format(sid) + "/@" + ("value" if kinds[sid] == "parameter" else "size")
            items.append(f'<changeAttribute target="{_attr(target)}" newValue="{float(value)!r}"/>')
    if problems:
        raise InvalidInput(problems)
    return f"<listOfChanges>{''.join(items)}</listOfChanges>" if items else ""


def build_sedml(sbml: str, start: float, end: float, points: int, selections: Sequence[str],
                solver: SolverOptions = DEFAULT_SOLVER, model_file: str = "model.xml",
                changes: Mapping[str, float] | None = None) -> str:
    """SED-ML L1V3 text: a uniform time course of the model with a report of the selections (time first).

    ``start``/``end`` in model time units; ``points`` output time points including both ends;
    ``changes``: parameter or compartment id -> value set before the run (SED-ML changeAttribute).
    """
    problems = []
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (start, end)) or not end > start:
        problems.append(f"start, end: finite numbers with end > start (got {start!r}, {end!r})")
    if not (isinstance(points, int) and points >= 2):
        problems.append(f"points: an integer >= 2 (got {points!r})")
    if not selections or any(not isinstance(s, str) for s in selections):
        problems.append(f"selections: a non-empty list of roadrunner selections (got {selections!r})")
    if problems:
        raise InvalidInput(problems)
    kinds, compartment_of, language = _sbml_kinds(sbml)
    change_xml = _changes_xml(changes or {}, kinds)
    ordered = ["time", *[s for s in selections if s != "time"]]
    generators = [_data_generator(i, s, kinds, compartment_of) for i, s in enumerate(ordered)]
    datasets = "".join(f'<dataSet id="ds_{i}" label="{html.escape(s, quote=True)}" dataReference="dg_{i}"/>'
                       for i, s in enumerate(ordered))
    kisao = "KISAO:0000019" if solver.stiff else "KISAO:0000280"  # CVODE (BDF, roadrunner's default) or Adams-Moulton
    params = (f'<algorithmParameter kisaoID="KISAO:0000209" value="{solver.relative_tolerance!r}"/>'
              f'<algorithmParameter kisaoID="KISAO:0000211" value="{solver.absolute_tolerance!r}"/>'
              f'<algorithmParameter kisaoID="KISAO:0000415" value="{solver.maximum_num_steps}"/>')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sedML xmlns="http://sed-ml.org/sed-ml/level1/version3" level="1" version="3">
  <listOfSimulations>
    <uniformTimeCourse id="sim1" initialTime="{float(start)!r}" outputStartTime="{float(start)!r}" outputEndTime="{float(end)!r}" numberOfPoints="{points - 1}">
      <algorithm kisaoID="{kisao}"><listOfAlgorithmParameters>{params}</listOfAlgorithmParameters></algorithm>
    </uniformTimeCourse>
  </listOfSimulations>
  <listOfModels>
    <model id="model1" language="{language}" source="{html.escape(model_file)}">{change_xml}</model>
  </listOfModels>
  <listOfTasks>
    <task id="task1" modelReference="model1" simulationReference="sim1"/>
  </listOfTasks>
  <listOfDataGenerators>
    {(chr(10) + "    ").join(generators)}
  </listOfDataGenerators>
  <listOfOutputs>
    <report id="results" name="simulation results"><listOfDataSets>{datasets}</listOfDataSets></report>
  </listOfOutputs>
</sedML>
"""


def _manifest(entries: Sequence[tuple[str, str, bool]]) -> str:
    master_attr = ' master="true"'
    lines = [f'  <content location="{html.escape(loc)}" format="{fmt}"{master_attr if master else ""}/>'
             for loc, fmt, master in entries]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<omexManifest xmlns="{MANIFEST_NS}">\n'
            f'  <content location="." format="{FORMAT_URI}omex"/>\n' + "\n".join(lines) + "\n</omexManifest>\n")


def export_archive(sbml: str, start: float, end: float, points: int, selections: Sequence[str],
                   results: pd.DataFrame, solver: SolverOptions = DEFAULT_SOLVER,
                   title: str = "Simulation exported from the AD continuum QSP app",
                   changes: Mapping[str, float] | None = None) -> bytes:
    """A COMBINE archive (bytes) of a run that tellurium, COPASI or BioSimulations can re-run.

    Holds ``model.xml`` (exactly ``sbml``, the model that ran), ``simulation.sedml`` (uniform time course
    ``start``..``end`` with ``points`` points, CVODE with ``solver``'s tolerances, one report ``results``
    of ``selections``), ``results.csv`` (``results`` as computed here), ``README.md`` and the manifest.
    ``selections``: roadrunner selections, ``X`` amounts, ``[X]`` concentrations, parameter,
    compartment or reaction ids; ``time`` comes first whether listed or not. ``changes``: parameter or
    compartment values the run used instead of the model's (written as SED-ML changes, the SBML stays as is).
    """
    text = check_sbml_text(sbml)
    sedml = build_sedml(text, start, end, points, selections, solver, changes=changes)
    ordered = ["time", *[s for s in selections if s != "time"]]
    missing = [s for s in ordered if s not in results.columns]
    if missing:
        raise InvalidInput(f"results: no column for selection(s) {', '.join(missing)} (columns: {', '.join(map(str, results.columns))})")
    if len(results) != points:
        raise InvalidInput(f"results: {len(results)} rows, expected one per time point ({points})")
    if not np.allclose(results["time"].to_numpy(dtype=float), np.linspace(start, end, points), rtol=1e-9, atol=1e-12):
        raise InvalidInput(f"results: the time column is not {points} evenly spaced points from {start:g} to {end:g}")
    csv = results[ordered].to_csv(index=False, float_format="%.17g")
    changed = f"; the SED-ML sets {', '.join(f'{k} = {v:g}' for k, v in changes.items())}" if changes else ""
    readme = f"""# {title}

- `model.xml`: the SBML model exactly as it was simulated (dosing included){changed}.
- `simulation.sedml`: SED-ML L1V3, a uniform time course from {start:g} to {end:g} (model time units) with
  {points} time points (`numberOfPoints="{points - 1}"` intervals, as SED-ML tools read it), CVODE
  ({'stiff' if solver.stiff else 'non-stiff'}, relative tolerance {solver.relative_tolerance:g}, absolute tolerance
  {solver.absolute_tolerance:g}), and the report `results` of {', '.join(ordered)}.
  An amount `X` is written as the concentration `[X]` times the compartment size.
- `results.csv`: the results this app computed with libroadrunner; re-running the SED-ML reproduces them
  within the solver tolerances.

Re-run with tellurium: `tellurium.executeCombineArchive("archive.omex")`.
"""
    entries = [("model.xml", SBML_FORMAT, False), ("simulation.sedml", SEDML_FORMAT, True),
               ("results.csv", MEDIATYPE_URI + "text/csv", False), ("README.md", MEDIATYPE_URI + "text/markdown", False)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST_LOCATION, _manifest(entries))
        for location, content in zip([e[0] for e in entries], [text, sedml, csv, readme]):
            archive.writestr(location, content)
    return buffer.getvalue()


# ------------------------------------------------------------------ Antimony both ways


def _task_sbml_to_antimony(sbml: str) -> dict:
    import antimony

    antimony.clearPreviousLoads()
    if antimony.loadSBMLString(sbml) < 0:
        return {"refused": f"Antimony could not read the SBML: {antimony.getLastError().strip()}"}
    return {"text": antimony.getAntimonyString(antimony.getMainModuleName())}


def _task_antimony_to_sbml(text: str) -> dict:
    import antimony

    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        return {"refused": f"Antimony error: {antimony.getLastError().strip()}"}
    return {"text": antimony.getSBMLString(antimony.getMainModuleName()) or ""}


def _sandboxed_text(task: str, payload: dict, lab_limits: LabLimits) -> str:
    out = run_sandboxed(task, payload, lab_limits)
    if "error" in out:
        hint = SANDBOX_HINTS.get(out.get("sandbox"))
        raise ModelRefused(f"Antimony translation failed: {out['error']}" + (f" ({hint})" if hint else ""))
    if "refused" in out:
        raise ModelRefused(out["refused"])
    return out["text"]


def export_antimony(sbml: str | bytes, lab_limits: LabLimits = DEFAULT_LIMITS) -> str:
    """Any SBML as Antimony text: gated and size-limited, translated by antimony in the sandbox."""
    text = check_sbml_text(sbml, max_bytes=lab_limits.max_bytes)
    root = safe_et.fromstring(text)
    if _external_sources(root):  # libsbml would read them from disk, relative to the server's folder
        raise ModelRefused("refused: the model refers to comp external model files; flatten it first")
    counts, depth = count_components(root)
    if counts["total"] > lab_limits.max_components or depth > lab_limits.max_depth:
        raise ModelRefused(f"model has {counts['total']:,} components / depth {depth}, limits "
                           f"{lab_limits.max_components:,} / {lab_limits.max_depth} (QSP_LAB_MAX_COMPONENTS, QSP_LAB_MAX_DEPTH)")
    return _sandboxed_text("sbml_to_antimony", {"sbml": text}, lab_limits)


def import_antimony(text: str, lab_limits: LabLimits = DEFAULT_LIMITS) -> str:
    """Antimony text as SBML (size-limited, translated in the sandbox); the SBML passes the gate."""
    if not isinstance(text, str):
        raise InvalidInput(f"text: expected Antimony as str (got {type(text).__name__})")
    if len(text.encode("utf-8")) > lab_limits.max_bytes:
        raise ModelRefused(f"Antimony text too large: limit {lab_limits.max_bytes:,} bytes (QSP_LAB_MAX_BYTES)")
    if _IMPORT.search(text):
        raise ModelRefused("refused: Antimony 'import' statements read files from the server's disk; "
                           "paste the imported models into the text instead")
    return check_sbml_text(_sandboxed_text("antimony_to_sbml", {"text": text}, lab_limits), lab_limits.max_bytes)
