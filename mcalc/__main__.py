"""Entry point of ``python -m mcalc``."""

import sys

from mcalc.cli import main

if __name__ == "__main__":
    sys.exit(main())
