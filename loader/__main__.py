"""`python -m loader` runs the staging loader (same as `python loader/copy_staging.py`)."""

import sys

from loader.copy_staging import main

sys.exit(main())
