"""``python -m llenergymeasure.gpucheck``: see ``gpucheck.run``."""

import sys

from llenergymeasure.gpucheck.run import main

sys.exit(main())
