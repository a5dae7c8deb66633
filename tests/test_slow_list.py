"""tests/slow_tests.txt names tests that exist (a stale entry would mark nothing, silently)."""

import ast
import functools
import os

from conftest import slow_tests

HERE = os.path.dirname(__file__)


@functools.cache
def functions_in(path):
    """Names of the functions defined in the test file `path` (relative to the repository)."""
    file = os.path.join(HERE, os.path.relpath(path, "tests"))
    if not os.path.exists(file):
        return frozenset()
    with open(file) as handle:
        tree = ast.parse(handle.read())
    return frozenset(node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))


def test_every_slow_entry_names_an_existing_test():
    missing = []
    for node_id in sorted(slow_tests()):
        path, _, name = node_id.partition("::")
        if name.split("[", 1)[0] not in functions_in(path):
            missing.append(node_id)
    assert missing == [], f"tests/slow_tests.txt names tests that do not exist: {missing}"
