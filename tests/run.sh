#!/usr/bin/env bash
# The README's test command. It first installs what the tests need — the Python test extra
# (`pip install -e ".[test]"`, PyTorch's CPU build) and, when run as root on a machine with
# apt-get, the system programs some tests use: Graphviz (`dot`, for plot_model_graph and the
# explorer's model-graph tab) and Chromium (browser tests). Where a system program is absent the
# tests that need it are skipped, and pytest's summary says why. Then it runs the whole suite on
# TensorFlow and the backend matrix, JAX and PyTorch, over every test not marked
# `single_backend`. Tests marked `slow` (the longest, listed in tests/slow_tests.txt with their
# measured times) are left out, so that the command stays under 15 minutes on a 2-core machine;
# CI (.ci/run) runs them after it. Extra arguments go to every pytest run.
#   KERAS_VT_SKIP_INSTALL=1  skip the installation step (an environment already set up)
#   PYTEST_WORKERS=N         pytest-xdist workers (default 2)
#   KERAS_VT_TESTS=slow      run only the tests marked slow; =all runs every test
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore::DeprecationWarning

if [ "${KERAS_VT_SKIP_INSTALL:-0}" != 1 ]; then
  # PyTorch's CPU wheels: without this index pip resolves torch to the CUDA build and ~17
  # nvidia-* packages. Where the index cannot be reached (a machine limited to a package mirror)
  # it is left out, with one line saying so, instead of one pip warning per package.
  torch_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
  index_args=()
  if python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" \
    "$torch_index" >/dev/null 2>&1; then
    index_args=(--extra-index-url "$torch_index")
  else
    echo "tests/run.sh: PyTorch's CPU index $torch_index cannot be reached; installing from" \
      "pip's configured indexes"
  fi
  python -m pip install -q -e ".[test]" ${index_args[@]+"${index_args[@]}"} || {
    echo "tests/run.sh: pip could not install the test dependencies (pip install -e \".[test]\")"
    exit 1
  }
  if python -m pip list 2>/dev/null | grep -q "^nvidia-"; then
    echo "tests/run.sh: note: CUDA packages (nvidia-*) are installed; the CPU build of torch is" \
      "smaller: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
  fi
  missing=()
  command -v dot >/dev/null 2>&1 || missing+=(graphviz)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "tests/run.sh: installing system packages: ${missing[*]}"
      (apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null) \
        || echo "tests/run.sh: could not install ${missing[*]}; the tests that need them are skipped"
    else
      echo "tests/run.sh: not installed: ${missing[*]} (apt-get install ${missing[*]});" \
        "the tests that need them are skipped"
    fi
  fi
fi

workers=${PYTEST_WORKERS:-2}
case "${KERAS_VT_TESTS:-fast}" in
  fast) speed="not slow" ;;
  slow) speed="slow" ;;
  all) speed="" ;;
  *) echo "tests/run.sh: KERAS_VT_TESTS must be fast, slow or all, got '${KERAS_VT_TESTS}'"; exit 2 ;;
esac
status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend ${speed:+($speed)}"
  selection=$speed
  if [ "$backend" != tensorflow ]; then
    selection="not single_backend${speed:+ and ($speed)}"
  fi
  marker=()
  [ -n "$selection" ] && marker=(-m "$selection")
  KERAS_BACKEND=$backend python -m pytest -n "$workers" -p no:cacheprovider --durations=15 \
    "${marker[@]}" "$@"
  code=$?
  # 5 = no test collected for this selection; anything else non-zero is a failure.
  if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then status=$code; fi
done
exit $status
