"""The one loader of the test vectors in tests/vectors/ (Wycheproof JSON files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VECTOR_DIR = Path(__file__).resolve().parent / "vectors"


@dataclass(frozen=True)
class WycheproofCase:
    """One test of a Wycheproof file, hex fields decoded, with its group's parameters."""

    tc_id: int
    result: str  # "valid" | "invalid" | "acceptable"
    flags: tuple[str, ...]
    comment: str
    key: bytes
    msg: bytes
    ct: bytes
    iv: bytes = b""
    aad: bytes = b""
    tag: bytes = b""
    group: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"tc{self.tc_id}-{self.result}-{'+'.join(self.flags) or 'noflag'}"


def load_wycheproof(name: str) -> list[WycheproofCase]:
    """All tests of ``tests/vectors/<name>`` in file order."""
    data = json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))
    cases = []
    for group in data["testGroups"]:
        params = {k: v for k, v in group.items() if k != "tests"}
        for t in group["tests"]:
            cases.append(
                WycheproofCase(
                    tc_id=t["tcId"],
                    result=t["result"],
                    flags=tuple(t["flags"]),
                    comment=t["comment"],
                    key=bytes.fromhex(t["key"]),
                    msg=bytes.fromhex(t["msg"]),
                    ct=bytes.fromhex(t["ct"]),
                    iv=bytes.fromhex(t.get("iv", "")),
                    aad=bytes.fromhex(t.get("aad", "")),
                    tag=bytes.fromhex(t.get("tag", "")),
                    group=params,
                )
            )
    if len(cases) != data["numberOfTests"]:
        raise AssertionError(f"{name}: {len(cases)} tests loaded, {data['numberOfTests']} declared")
    return cases
