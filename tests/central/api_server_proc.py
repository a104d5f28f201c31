"""Central's API alone in a process of its own, so that a test can measure what it holds.

`python -m tests.central.api_server_proc DB_URL [MAX_BODY_BYTES]` migrates the database, serves
create_app through central's ApiServer on a free loopback port, prints the base URL and runs until
its stdin closes.
"""

from __future__ import annotations

import sys

from central.api.app import ApiContext, create_app
from central.areas import CameraRegistry
from central.config import ApiSection
from central.service import ApiServer
from central.store.engine import make_engine
from central.store.migrations import migrate
from central.summaries import SummaryBoard


def main(argv: list[str]) -> None:
    """Serve until stdin closes."""
    engine = make_engine(argv[0])
    migrate(engine)
    api = ApiSection(max_body_bytes=int(argv[1])) if len(argv) > 1 else ApiSection()
    ctx = ApiContext(engine=engine, board=SummaryBoard(), cameras=CameraRegistry(), api=api)
    server = ApiServer(create_app(ctx), "127.0.0.1", 0)
    server.start()
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
