"""``python -m verinet``: the same as the ``verinet`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
