"""`python -m monitord` → the command line."""

from monitord.cli import main

raise SystemExit(main())
