"""Event ids: the bulk path lays out many UUIDv4s at once (``_uuid4_strs``)."""

from __future__ import annotations

import uuid

from vaultcore.events._outbox import _uuid4_strs


def test_event_ids_are_distinct_random_uuid4s_in_canonical_text() -> None:
    for count in (0, 1, 2, 31, 32, 33, 1000):  # both ways of laying them out
        ids = _uuid4_strs(count)
        assert len(ids) == count == len(set(ids))
        for ident in ids:
            parsed = uuid.UUID(ident)
            assert str(parsed) == ident and parsed.version == 4 and parsed.variant == uuid.RFC_4122
