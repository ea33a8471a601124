"""The canonical tables and their equations, as data (templates/report.json).

Kept apart from the snapping code so that every stage that needs the template
(snapping, repair, exports) reads the one file, and none imports another stage.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

# Below this an OCR'd number is not trusted on its own (its weakest character's
# probability): snapping marks it low_confidence and repair treats it as unsure.
OK_CONFIDENCE = 0.90


@cache
def templates() -> dict:
    """The canonical tables by section and version, loaded from templates/report.json."""
    text = resources.files("tallyscan.postprocess").joinpath("templates/report.json").read_text("utf-8")
    return json.loads(text)["sections"]
