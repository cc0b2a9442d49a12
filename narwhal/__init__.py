"""narwhal: a gunicorn-compatible pre-fork WSGI server with a C++ core."""

from __future__ import annotations

import sys
from typing import Sequence

__version__ = "0.1.0"
__all__ = ["main", "run", "__version__"]


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``narwhal`` command with ``argv`` (defaults to ``sys.argv``); returns its status."""
    from narwhal import _core

    return int(_core.main(list(sys.argv if argv is None else argv)))


def run(app_uri: str, *args: str) -> int:
    """Serves ``app_uri`` ("module:app") like ``narwhal [args] app_uri`` would."""
    return main(["narwhal", *args, app_uri])
