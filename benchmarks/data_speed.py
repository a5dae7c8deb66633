"""Generation speed of the built-in shape data sets.

Usage: python benchmarks/data_speed.py [--num-images 10000] [--image-size 32] [--repeats 3]

Prints images per second for `make_shapes` (best of `--repeats`), and for
`make_captioned_shapes` at twice the image size; writes `benchmarks/results/data_speed.{json,md}`
with date, machine and load average.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results_io import provenance, write_json  # noqa: E402
from keras_vt.data import make_captioned_shapes, make_shapes  # noqa: E402


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, size = args.num_images, args.image_size
    started = provenance()
    rows, lines = {}, []

    make_shapes(16, size)  # warm up
    for name, fn, px in [
        ("make_shapes", lambda: make_shapes(n, size), size),
        ("make_shapes(clutter=False)", lambda: make_shapes(n, size, clutter=False), size),
        ("make_captioned_shapes", lambda: make_captioned_shapes(n, 2 * size), 2 * size),
    ]:
        seconds = best_time(fn, args.repeats)
        rows[name] = {"images": n, "pixels": px, "best_seconds": seconds}
        lines.append(
            f"{name:28s} {n} images at {px} px: {seconds:6.2f} s, {n / seconds:8.0f} images/s"
        )
        print(lines[-1])
    write_json("data_speed", {"args": vars(args), "rows": rows}, started, "\n".join(lines))


if __name__ == "__main__":
    main()
