"""End to end: a seal stamped over section 四 erases some of its column rules.

Held-out synthetic reports lost all fifteen cells of section 四 that way (the
grid had 13 or 14 columns, and the data row no longer fit the template); the
reports here are drawn exactly as ``make_set`` draws them, by seed.
"""

import pytest

from tallyscan.ingest import expand_inputs
from tallyscan.pipeline import extract_document
from tallyscan.settings import Settings
from tallyscan.synth import make_report
from tallyscan.synth.make_set import draw


@pytest.mark.slow
@pytest.mark.parametrize("seed", [6023, 6029])  # clean 2019 at 200 dpi; mild 2021 at 300 dpi
def test_section_四_under_a_seal_is_read_whole(tmp_path, seed):
    pdf, truth = make_report(seed, **draw(seed))
    path = tmp_path / f"syn{seed}.pdf"
    path.write_bytes(pdf)
    settings = Settings.from_env()
    result = extract_document(expand_inputs([path], settings)[0], settings)
    assert result.status == "done", result.error_message
    got = {c.key: c for c in result.cells}
    want = {k: v for k, v in truth["cells"].items() if k.startswith("四|")}
    assert len(want) == 15
    assert {k: got[k].value for k in want} == want
    assert all(got[k].status in ("ok", "repaired") for k in want)
