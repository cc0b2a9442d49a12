"""``narwhal-install-gunicorn-alias``: a ``gunicorn`` command that runs narwhal, on request only.

    narwhal-install-gunicorn-alias              # into this environment's scripts directory
    narwhal-install-gunicorn-alias --bin-dir ~/bin
    narwhal-install-gunicorn-alias --remove

Scripts, Procfiles and unit files that call ``gunicorn ...`` then run narwhal with the same
arguments, unchanged. A ``gunicorn`` file that is not this alias (a real gunicorn) is never
replaced or removed without ``--force``.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import tempfile
from typing import Sequence

MARKER = "# narwhal's gunicorn alias"

SCRIPT = """#!{python}
{marker}, written by narwhal-install-gunicorn-alias: `gunicorn ...` runs narwhal.
import sys

from narwhal.__main__ import console_main

if __name__ == "__main__":
    console_main()
"""


def is_alias(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return MARKER.encode() in file.read(4096)
    except OSError:
        return False


def install(path: str, force: bool) -> int:
    if os.path.lexists(path) and not is_alias(path) and not force:
        print("%s exists and is not narwhal's alias (a real gunicorn?); --force replaces it" % path,
              file=sys.stderr)
        return 1
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    # Written beside, then renamed: a running `gunicorn` never sees a half-written file.
    descriptor, temporary = tempfile.mkstemp(prefix=".gunicorn-", dir=directory)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(SCRIPT.format(python=sys.executable, marker=MARKER))
        os.chmod(temporary, 0o755)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    print("installed %s: `gunicorn ...` now runs narwhal (%s)" % (path, sys.executable))
    return 0


def remove(path: str, force: bool) -> int:
    if not os.path.lexists(path):
        print("%s does not exist" % path)
        return 0
    if not is_alias(path) and not force:
        print("%s is not narwhal's alias; --force removes it anyway" % path, file=sys.stderr)
        return 1
    os.unlink(path)
    print("removed %s" % path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="narwhal-install-gunicorn-alias",
        description="Install a `gunicorn` command that runs narwhal with the same arguments.")
    parser.add_argument("--bin-dir", default=sysconfig.get_path("scripts"),
                        help="where to write `gunicorn` (default: this environment's scripts directory, %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="replace (or remove) a `gunicorn` that is not narwhal's alias")
    parser.add_argument("--remove", action="store_true", help="remove the alias instead")
    options = parser.parse_args(argv)
    path = os.path.join(options.bin_dir, "gunicorn")
    return remove(path, options.force) if options.remove else install(path, options.force)


if __name__ == "__main__":
    sys.exit(main())
