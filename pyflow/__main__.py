"""`python -m pyflow` entry point."""

import sys

from pyflow.cli import main

sys.exit(main())
