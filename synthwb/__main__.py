import sys

from synthwb.cli import main

sys.exit(main())
