"""The scripts both pages run: the vendored ECharts library and ``page.js``, read from the package.

The web UI serves them from ``ws/static/`` (:data:`SCRIPTS`); the HTML report inlines them, so
the report stays one file. Nothing is ever loaded from the network.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import orjson

#: The vendored ECharts release (see ``vendor/README.md`` to update it).
ECHARTS_VERSION = "6.1.0"
#: Script names as served under ``ws/static/``, and their files in this package.
SCRIPTS = {
    "echarts.min.js": ("vendor", "echarts.common.min.js"),
    "page.js": ("page.js",),
}
#: What would end an inline ``<script>`` element early (or open an HTML comment inside one).
_SCRIPT_BREAK = re.compile(r"</script|<!--", re.IGNORECASE)


@functools.cache
def script(name: str) -> str:
    """Return one script of :data:`SCRIPTS` by its served name (read once per process)."""
    return resources.files("loadtest.report").joinpath(*SCRIPTS[name]).read_text(encoding="utf-8")


def inline_script(text: str) -> str:
    """Return ``text`` as an inline ``<script>`` element, refusing text that would break out of it."""
    if _SCRIPT_BREAK.search(text):
        raise ValueError("this script cannot be inlined: it contains '</script' or '<!--'")
    return f"<script>{text}</script>"


def json_script(element_id: str, payload: Any) -> str:
    """Return ``payload`` as an inline JSON data block (``</`` escaped, so no value ends it)."""
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode().replace("</", "<\\/")
    body = body.replace("<!--", "<\\u0021--")
    return f'<script type="application/json" id="{element_id}">{body}</script>'
