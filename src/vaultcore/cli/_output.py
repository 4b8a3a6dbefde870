"""Machine output formats beside the human table: json, yaml, tsv, none; and ``--query``.

``--query`` is JMESPath (the ``jmespath`` package, as az uses), applied to the stable JSON
shape of a result before it is printed. ``tsv`` follows az: a scalar is printed as is, an
object as its values joined by tabs, a list as one such line per item (no header), so
``-o tsv`` output feeds ``read``/``cut`` directly. ``yaml`` is block style; strings are
quoted (JSON style) whenever the plain form could read back differently.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["FORMATS", "query", "render"]

FORMATS = ("table", "json", "yaml", "tsv", "none")
_PLAIN = re.compile(r"[A-Za-z_./][A-Za-z0-9_./@+-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def query(expression: str, data: Any) -> Any:
    """*data* filtered by the JMESPath *expression* (a bad expression is exit 2)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from ._errors import BadInput

    try:
        return jmespath.search(expression, data)
    except JMESPathError as exc:
        raise BadInput(f"--query: {' '.join(str(exc).split())}") from None


def render(fmt: str, data: Any) -> str:
    """*data* (JSON-shaped) in *fmt*, ending with a newline (``""`` for ``none``)."""
    if fmt == "none":
        return ""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return "\n".join(_yaml(data, 0)) + "\n"
    if fmt == "tsv":
        return "".join(line + "\n" for line in _tsv_lines(data))
    raise ValueError(f"not a data format: {fmt}")


def _tsv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"  # az prints Python's spelling
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _tsv_lines(data: Any) -> list[str]:
    if isinstance(data, list):
        return [
            "\t".join(_tsv_cell(v) for v in item.values()) if isinstance(item, dict) else _tsv_cell(item)
            for item in data
        ]
    if isinstance(data, dict):
        return ["\t".join(_tsv_cell(v) for v in data.values())]
    return [_tsv_cell(data)]


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _yaml(data: Any, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(data, dict):
        if not data:
            return [pad + "{}"]
        lines: list[str] = []
        for key, value in data.items():
            head = f"{pad}{_scalar(str(key))}:"
            if isinstance(value, dict | list) and value:
                lines.append(head)
                lines += _yaml(value, indent + 1)
            else:
                lines.append(f"{head} {_yaml(value, 0)[0]}")
        return lines
    if isinstance(data, list):
        if not data:
            return [pad + "[]"]
        lines = []
        for item in data:
            if isinstance(item, dict | list) and item:
                nested = _yaml(item, indent + 1)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines += nested[1:]
            else:
                lines.append(f"{pad}- {_yaml(item, 0)[0]}")
        return lines
    return [pad + _scalar(data)]
