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

import os
import sys
import time

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
    ignored); limit JAX with `results_io.limit_cpus` instead.
    """
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
    for name in names:
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    settings = {name: os.environ[name] for name in names + ("TF_NUM_INTEROP_THREADS",)}
    return settings


def load_average():
    """The 1, 5 and 15 minute load averages (a list), to record with every timing."""
    return [float(x) for x in os.getloadavg()]
