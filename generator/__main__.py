import sys

from generator.synthetic import main

sys.exit(main())
