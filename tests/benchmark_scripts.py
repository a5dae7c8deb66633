"""Loads a script of benchmarks/ as a namespace, for the tests of its arithmetic (nothing timed)."""

import runpy
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    """The globals of `benchmarks/<name>`, run as a module that is not `__main__`."""
    return runpy.run_path(str(BENCHMARKS / name), run_name=f"{Path(name).stem}_under_test")
