"""`python -m siaga` runs the CLI."""

import sys

from siaga.cli import main

sys.exit(main())
