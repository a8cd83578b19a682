"""`python -m endodepth ...` (what `torchrun -m endodepth train ...` runs): the `endodepth` command."""

import sys

from endodepth.cli import main

sys.exit(main())
