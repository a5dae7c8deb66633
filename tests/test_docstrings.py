"""Every `>>>` example in keras_vt's docstrings runs and prints what it shows.

The examples are written as a JAX user sees them (`x.shape` prints a tuple), so they run on the
JAX backend; examples that need files or other libraries (checkpoints, SavedModels, servers) are
fenced ```python blocks and are not run.
"""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_vt

MODULES = sorted(m.name for m in pkgutil.walk_packages(keras_vt.__path__, "keras_vt."))


def _graphviz_missing():
    from keras_vt.viz.plotting import check_graphviz

    try:
        check_graphviz()
    except ImportError as error:
        return f"Graphviz/pydot missing ({str(error).split(':')[0]})"
    return None


# Examples that need a system program: doctest name -> check returning a reason when absent.
REQUIRES = {"keras_vt.viz.plotting.plot_model_graph": _graphviz_missing}


def docstring_tests(module_name):
    module = importlib.import_module(module_name)
    globs = {**vars(module), "np": np, "keras": keras, "keras_vt": keras_vt}
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for test in finder.find(module, module_name, globs=globs) if test.examples]


def test_every_module_is_importable_and_some_have_examples():
    counts = {name: sum(len(t.examples) for t in docstring_tests(name)) for name in MODULES}
    assert sum(counts.values()) > 100, counts


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="docstring examples print JAX's shapes; run on the JAX backend",
)
@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report, skipped = [], []
    for test in docstring_tests(module_name):
        reason = REQUIRES[test.name]() if test.name in REQUIRES else None
        if reason:
            skipped.append(f"{test.name}: {reason}")
            continue
        runner.run(test, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples failed:\n" + "".join(report)
    if skipped:
        pytest.skip(f"{attempted} examples passed; not run: " + "; ".join(skipped))
