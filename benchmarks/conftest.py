"""Benchmarks: off in the normal test run (pyproject's testpaths is tests/), run on demand:

    .venv/bin/python -m pytest benchmarks --benchmark-only -s      (or: make bench)

Benchmark modules are named ``bench_*.py``; this conftest adds that pattern (keeping the
project's pytest configuration, filterwarnings=error included, which a separate
``benchmarks/pytest.ini`` would replace). At the end of the run a table of ratios, all
measured in the same run, is printed (see bench_native.py).
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("python_files", "bench_*.py")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    import sys

    bench = sys.modules.get("bench_native")  # imported by collection, if it ran
    if bench is None:
        return
    lines = bench.report_lines()
    if lines:
        terminalreporter.section("vaultcore native core: ratios measured in this run")
        for line in lines:
            terminalreporter.write_line(line)
