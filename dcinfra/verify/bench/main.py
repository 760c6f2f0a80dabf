"""Script entry for a copied bench directory: ``torchrun ... bench/main.py --phase ...``.

Run as a script, this file loads its own directory as a private package (``_dcinfra_bench``) so the
bench modules import each other relatively without dcinfra installed and without touching
``sys.path`` beyond removing the script directory Python put first (its module names must not shadow
anything torch imports). Imported as part of a package, it only re-exports ``main``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable

_PACKAGE = "_dcinfra_bench"


def _load_main() -> Callable[[], int]:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    if _PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _PACKAGE, os.path.join(here, "__init__.py"), submodule_search_locations=[here]
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load the bench package from {here}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = module
        spec.loader.exec_module(module)
    entry: Callable[[], int] = importlib.import_module(f"{_PACKAGE}.cli").main
    return entry


if __name__ == "__main__":
    raise SystemExit(_load_main()())
