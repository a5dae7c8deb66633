"""Where every benchmark and example writes its figures: `benchmarks/results/`, with provenance.

Each results file carries the date (UTC), the machine (platform, CPU model, core count), the load
average before and after the run, the Keras backend and the command line, so that a figure quoted in
README.md or docs/ can be traced to the command that produced it and the conditions it ran under.

Example (the scripts import it with the repository root on `sys.path`):

    from benchmarks.results_io import RESULTS, provenance, write_json
    started = provenance()
    ...
    write_json("my_benchmark", {"figures": ...}, started)
"""

import datetime
import json
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load_average():
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine():
    """Platform, Python, CPU model and core count of this machine."""
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def provenance():
    """Date, machine, command and load average at the start of a run (call it first)."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow (default)"),
        "environment": compiler_environment(),
        "load_average_start": load_average(),
    }


COMPILER_VARIABLES = ("TORCHINDUCTOR_", "TORCHDYNAMO_", "XLA_", "TF_XLA_", "TF_ENABLE_", "ONEDNN_")


def compiler_environment():
    """The environment variables set for this run that change what a compiler or kernel library
    does (TorchInductor, TorchDynamo, XLA, oneDNN), so that a results file says it ran with them."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(COMPILER_VARIABLES)}


def finish(started):
    """`started` (from `provenance`) with the load average at the end and the elapsed time."""
    out = dict(started)
    out["load_average_end"] = load_average()
    begin = datetime.datetime.fromisoformat(started["date"])
    now = datetime.datetime.now(datetime.timezone.utc)
    out["wall_seconds"] = round((now - begin).total_seconds(), 1)
    out["shared_machine_note"] = (
        "Timings are only as good as the machine was quiet: compare the load averages with "
        "machine.cpu_count."
    )
    return out


def write_json(name, results, started, markdown=None):
    """Writes `results/<name>.json` (results + provenance) and, if given, `results/<name>.md`."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"provenance": finish(started), **results}
    path = RESULTS / f"{name}.json"
    write_atomic(path, json.dumps(data, indent=1, default=float) + "\n")
    if markdown is not None:
        write_atomic(RESULTS / f"{name}.md", markdown.rstrip() + footer(data["provenance"]))
    return path


def footer(p):
    """The provenance line that ends every results markdown file."""
    return (
        f"\n\n{p['date']}, {p['machine']['cpu']} ({p['machine']['cpu_count']} cores), "
        f"load average {p['load_average_start']} -> {p['load_average_end']}; "
        f"`{p['command']}` (KERAS_BACKEND={p['keras_backend']}"
        + "".join(f", {k}={v}" for k, v in p.get("environment", {}).items())
        + ").\n"
    )


def write_atomic(path, text):
    """Writes `text` to a temporary file beside `path`, then renames it over `path`."""
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)
