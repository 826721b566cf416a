"""The model gate refuses hostile or non-SBML text before any parser sees it."""

import pytest

from qsp.engine.gate import check_sbml_text
from qsp.engine.model import load_sbml_model
from qsp.errors import ModelRefused

MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="m"><listOfParameters><parameter id="k" value="1" constant="true"/></listOfParameters></model>
</sbml>"""

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="m" name="&lol2;"/></sbml>"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE sbml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="&xxe;"/></sbml>"""


def test_minimal_sbml_passes():
    assert check_sbml_text(MINIMAL) == MINIMAL
    model = load_sbml_model(MINIMAL)
    assert model.parameter_ids == ("k",)
    assert len(model.sha256) == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "DTD or entity"),
        (EXTERNAL, "DTD or entity"),
        ("/etc/passwd", "does not start with '<'"),
        ("https://example.org/model.xml", "does not start with '<'"),
        ("", "the file is empty"),  # issue 14: an empty file
        (" \n\t", "the file is empty"),
        ("% MATLAB model\nfunction dydt = f(t, y)\n  dydt = -y;\nend\n", r"not SBML/XML: the file does not start with '<' \(it starts with '% MATLAB model'\)"),
        ("<html><body>hi</body></html>", "root element is 'html'"),
        ('<sbml xmlns="http://example.org/not-sbml"/>', "expected 'sbml'"),
        ("<sbml><model>", "not well-formed"),
        (MINIMAL.replace("</sbml>", ""), "not well-formed"),
    ],
)
def test_hostile_or_foreign_text_is_refused(text, message):
    with pytest.raises(ModelRefused, match=message):
        check_sbml_text(text)


def test_oversized_text_is_refused_before_parsing():
    huge = MINIMAL.replace("<model", "<!-- " + "x" * 2000 + " --><model")
    with pytest.raises(ModelRefused, match="model too large"):
        check_sbml_text(huge, max_bytes=1000)


def test_invalid_sbml_content_is_refused_on_load():
    broken = MINIMAL.replace('value="1" constant="true"', 'value="abc" constant="maybe"')
    with pytest.raises(ModelRefused, match="SBML could not be read"):
        load_sbml_model(broken)
