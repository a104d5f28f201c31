"""`python -m benchmarks.cameras_per_box`: see the package's docstring."""

import sys

from benchmarks.cameras_per_box.cli import main

sys.exit(main())
