"""``python -m narwhal`` and the ``narwhal`` console script."""

import sys

from narwhal import main


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
