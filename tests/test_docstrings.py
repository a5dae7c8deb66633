"""Every `>>>` example in keras_vt's docstrings runs and prints what it shows, on every backend.

The examples print backend-neutral values (`tuple(x.shape)`, `keras.ops.convert_to_numpy(x)`,
Python numbers), so the same text holds on TensorFlow, JAX and PyTorch. Examples that need files
or other libraries (checkpoints, SavedModels, servers) are fenced ```python blocks and are not run.

`Model.compile` runs eagerly here: an example's `fit` checks the call (data, losses, arguments),
not the compiled step, which the model tests cover; tracing and XLA-compiling each example's
train step cost minutes on the 2-core machine.
"""

import doctest
import functools
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


def eager(compile_method):
    @functools.wraps(compile_method)
    def compile_eagerly(self, *args, **kwargs):
        return compile_method(self, *args, **{**kwargs, "run_eagerly": True})

    return compile_eagerly


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(keras.Model, "compile", eager(keras.Model.compile))
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
