"""``python -m hsiae``: the hsiae command line (see :mod:`hsiae.cli`)."""

import sys

from hsiae.cli import main

if __name__ == "__main__":
    sys.exit(main())
