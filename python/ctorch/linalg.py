"""ctorch.linalg: the generated linalg functions (op table entries with ns=linalg)."""
from . import _C

for _name in dir(getattr(_C, "_ns_linalg", None)):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_C._ns_linalg, _name)
del _name
