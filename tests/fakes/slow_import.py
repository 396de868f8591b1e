"""A module whose import takes a minute: stands in for a slow engine import in the warm-start server."""

import os
import time
from pathlib import Path

Path(os.environ["LLEM_TEST_IMPORTING"]).touch()
time.sleep(60)
