"""`python -m private_host ...`: see private_host.cli."""

from private_host.cli import main

raise SystemExit(main())
