"""The examples run end to end (short budgets) and print their metric."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.mark.parametrize("script,args,expect", [
    ("mlp_regression.py", ["--epochs", "3"], "test mse"),
    ("char_lstm.py", ["--steps", "10"], "final loss"),
    ("gpt_char.py", ["--steps", "5"], "final loss"),
    ("digits_cnn.py", ["--epochs", "1", "--plot", ""], "final test accuracy"),
])
def test_example_runs(script, args, expect):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script)] + args, capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert expect in r.stdout
