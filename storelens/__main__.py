import sys

from storelens.cli import main

sys.exit(main())
