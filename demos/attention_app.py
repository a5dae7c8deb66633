"""Attention explorer: upload an image or pick a sample; raw maps, rollout or flow; top-5; mean attention distance per head.

python demos/attention_app.py [--host 127.0.0.1] [--port N] [--model NAME] [--weights PATH]
"""

import argparse

from keras_vt.apps.explorer import add_explore_arguments, launch

if __name__ == "__main__":
    parser = add_explore_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.set_defaults(app="attention")
    args = parser.parse_args()
    launch(args.host, args.port, args.model, args.weights, share=args.share, app=args.app)
