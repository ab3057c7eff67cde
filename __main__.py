"""Entry point for ``python -m actorscope``."""

from actorscope.server.cli import main

raise SystemExit(main())
