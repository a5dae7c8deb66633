#!/usr/bin/env bash
# The test command (README): the whole suite on TensorFlow, then the backend matrix, JAX and
# PyTorch, over every test not marked `single_backend`. Extra arguments go to every pytest run.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore::DeprecationWarning
workers=${PYTEST_WORKERS:-2}
status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  marker=()
  [ "$backend" = tensorflow ] || marker=(-m "not single_backend")
  KERAS_BACKEND=$backend python -m pytest -n "$workers" -p no:cacheprovider "${marker[@]}" "$@"
  code=$?
  # 5 = no test collected for this selection; anything else non-zero is a failure.
  if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then status=$code; fi
done
exit $status
