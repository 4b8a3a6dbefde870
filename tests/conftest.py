"""Project-wide test configuration.

Layer-specific fixtures live next to their tests; the folders mirror src/vaultcore (tests/engine,
tests/keys, tests/hsm, ...) and shared fixtures are in vaultfixtures.py.
Hypothesis gets a CI profile without deadlines: shared 2-core machines are noisy and a
timing assertion is never a correctness check.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
