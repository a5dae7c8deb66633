"""tests/slow_tests.txt names tests that exist (a stale entry would mark nothing, silently)."""

import ast
import os

from conftest import slow_tests

HERE = os.path.dirname(__file__)


def test_every_slow_entry_names_an_existing_test():
    missing = []
    for node_id in sorted(slow_tests()):
        path, _, name = node_id.partition("::")
        function = name.split("[", 1)[0]
        file = os.path.join(HERE, os.path.relpath(path, "tests"))
        if not os.path.exists(file):
            missing.append(node_id)
            continue
        with open(file) as handle:
            tree = ast.parse(handle.read())
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if function not in names:
            missing.append(node_id)
    assert missing == [], f"tests/slow_tests.txt names tests that do not exist: {missing}"
