"""`python -m mixtures build|validate|show ...`: the same commands as `mixtune mix ...`."""

import sys

from mixtune.cli import main

sys.exit(main(["mix", *sys.argv[1:]]))
