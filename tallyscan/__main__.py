"""``python -m tallyscan ...``: the same as the ``tallyscan`` command."""

import sys

from tallyscan.cli import main

if __name__ == "__main__":
    sys.exit(main())
