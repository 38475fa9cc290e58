"""``python -m uqvit.cli`` (torchrun uses it: ``torchrun ... -m uqvit.cli eval ...``)."""
import sys

from . import main

sys.exit(main())
