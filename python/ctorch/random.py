"""Seeding and generator state (torch.random): manual_seed, seed, initial_seed,
get_rng_state, set_rng_state, fork_rng. The generator itself is C (src/core/random.c)."""
import contextlib

from . import _C

default_generator = _C.default_generator

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "fork_rng",
           "default_generator"]


def manual_seed(seed):
    """Seed the default generator; returns it (a ctorch.Generator)."""
    return default_generator.manual_seed(int(seed))


def seed():
    """Seed the default generator non-deterministically; returns the 64-bit seed."""
    return default_generator.seed()


def initial_seed():
    """The seed the default generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state():
    """The default generator's state as a uint8 tensor."""
    return _C.get_rng_state()


def set_rng_state(new_state):
    """Restore the default generator's state from get_rng_state()."""
    _C.set_rng_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type="cuda"):
    """Restore the default generator's state on exit (only the CPU generator exists)."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
