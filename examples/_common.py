"""Shared bits of the examples: pick the library (ctorch by default, torch to compare)."""
import argparse
import importlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def parse(description, **defaults):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--lib", default="ctorch", choices=["ctorch", "torch"])
    ap.add_argument("--seed", type=int, default=0)
    for k, v in defaults.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    args = ap.parse_args()
    return args, importlib.import_module(args.lib)


def load_text():
    with open(os.path.join(DATA, "text", "macbeth.txt")) as f:
        return f.read()
