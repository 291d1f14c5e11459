"""`python -m private_site ...`: see private_site.cli."""

from private_site.cli import main

raise SystemExit(main())
