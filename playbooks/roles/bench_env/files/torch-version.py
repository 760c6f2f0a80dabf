# Prints the installed torch version without importing torch (an import takes seconds and the verify
# stage does it anyway); exits 1 with the reason when torch is not installed for this Python.
import importlib.metadata
import importlib.util
import sys

if importlib.util.find_spec("torch") is None:
    sys.exit(f"no torch module for {sys.executable}")
try:
    print(importlib.metadata.version("torch"))
except importlib.metadata.PackageNotFoundError:
    sys.exit(f"torch is importable from {sys.executable} but has no package metadata")
