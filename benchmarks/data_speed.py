"""Generation speed of the built-in shape data sets.

Usage: python benchmarks/data_speed.py [--num-images 10000] [--image-size 32] [--repeats 3]

Prints images per second for `make_shapes` (best of `--repeats`), and for
`make_captioned_shapes` at twice the image size.
"""

import argparse
import time

from keras_vt.data import make_captioned_shapes, make_shapes


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

    make_shapes(16, size)  # warm up
    for name, fn, px in [
        ("make_shapes", lambda: make_shapes(n, size), size),
        ("make_shapes(clutter=False)", lambda: make_shapes(n, size, clutter=False), size),
        ("make_captioned_shapes", lambda: make_captioned_shapes(n, 2 * size), 2 * size),
    ]:
        seconds = best_time(fn, args.repeats)
        print(f"{name:28s} {n} images at {px} px: {seconds:6.2f} s, {n / seconds:8.0f} images/s")


if __name__ == "__main__":
    main()
