"""The one timing harness of benchmarks/: warm-up, timed calls, robust statistics, threads, load.

Every benchmark script times through these helpers, so that their numbers mean the same thing:
medians and interquartile ranges of wall-clock seconds, the first (compiling) call apart, process
CPU seconds beside wall seconds (CPU / wall far below the thread count means the cores were
shared), and the load average recorded with the result.

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from harness import time_calls
    stats = time_calls(lambda: model(x), warmup=2, repeats=10)
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def summarize(seconds):
    """Median, quartiles, IQR, minimum and count (seconds) of a list of timings."""
    q1, median, q3 = np.percentile(np.asarray(seconds, dtype=np.float64), [25, 50, 75])
    return {
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "min": float(np.min(seconds)),
        "n": len(seconds),
        "all": [float(s) for s in seconds],
    }


def time_calls(fn, warmup, repeats, desc=None, progress=True):
    """Calls `fn` `warmup` times untimed (the first call's time kept), then `repeats` times timed.

    Returns `summarize` of the timed calls plus `first_call` (seconds), `cpu_median` (process CPU
    seconds of a timed call, all threads) and `cpu_per_wall`.
    """
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=warmup + repeats, desc=desc, leave=False, file=sys.stderr)
    first, times, cpu = None, [], []
    for i in range(warmup + repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        elapsed = time.perf_counter() - start
        if i == 0:
            first = elapsed
        if i >= warmup:
            times.append(elapsed)
            cpu.append(time.process_time() - start_cpu)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    stats = summarize(times)
    stats["first_call"] = first
    stats["cpu_median"] = float(np.median(cpu))
    stats["cpu_per_wall"] = float(np.sum(cpu) / max(np.sum(times), 1e-12))
    return stats


def interleaved_times(fns, rounds, warmup=2, progress=True):
    """Runs each function of `fns` ({name: fn}) once per round, in turn, after `warmup` untimed
    calls each, so that load from other processes on a shared machine hits all of them alike.

    Returns {name: [seconds, ...]}.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    rounds_iter = range(rounds)
    if progress:
        from tqdm import tqdm

        rounds_iter = tqdm(rounds_iter, desc="rounds")
    for _ in rounds_iter:
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def set_threads(threads):
    """Thread settings for a worker, applied before its framework starts any pool; returns them.

    XLA on CPU has no thread-count flag (an `intra_op_parallelism_threads` entry in XLA_FLAGS is
    ignored): JAX's pool follows the CPUs the process may run on, so the process is also pinned to
    `threads` CPUs (`limit_cpus`), which limits every framework alike.
    """
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
    for name in names:
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    settings = {name: os.environ[name] for name in names + ("TF_NUM_INTEROP_THREADS",)}
    settings["cpu_affinity"] = limit_cpus(threads)
    return settings


def limit_cpus(threads):
    """Pins this process (and the threads it starts later) to `threads` CPUs; returns them.

    JAX/XLA on CPU has no thread-count setting: its Eigen pool is sized by the CPUs the process may
    run on (`sched_getaffinity`), and XLA ignores other thread flags (`intra_op_parallelism_threads`
    is not an XLA flag). Restricting the affinity before the framework starts its pools is what
    limits it; it limits TensorFlow, PyTorch and numpy alike. Returns the CPU ids in use, or None
    where the OS cannot set affinity (then only the environment variables apply).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    available = sorted(os.sched_getaffinity(0))
    if threads < len(available):
        os.sched_setaffinity(0, available[:threads])
    return sorted(os.sched_getaffinity(0))


def run_worker_process(argv, backend, root, verbose=False):
    """Runs one benchmark worker in its own process and returns its JSON result.

    `argv` (the worker's command line) gets `--worker-output <temporary file>` appended; the
    process runs with `KERAS_BACKEND=backend` and `root` (the repository) first on PYTHONPATH, so
    that the framework, its threads and its peak memory are its own. Returns the worker's result
    with `job_seconds` (wall seconds of the whole process) added, or `{"error": "exit N: ..."}`
    with the tail of its standard error when it failed.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "result.json")
        start = time.perf_counter()
        proc = subprocess.run(
            list(argv) + ["--worker-output", output],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=None if verbose else subprocess.PIPE,
            text=True,
        )
        if proc.returncode or not os.path.exists(output):
            return {"error": f"exit {proc.returncode}: {(proc.stderr or '')[-3000:]}"}
        result = json.loads(Path(output).read_text())
    if isinstance(result, dict):
        result["job_seconds"] = time.perf_counter() - start
    return result


def load_average():
    """The 1, 5 and 15 minute load averages (a list), to record with every timing."""
    return [float(x) for x in os.getloadavg()]
