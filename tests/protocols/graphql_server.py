"""strawberry-graphql's ASGI app under uvicorn, graphql-transport-ws only, with the target's schema.

    python -m tests.protocols.graphql_server

The schema of the embedded target's graphql-ws dialect (``hello``, ``echo(text)``,
``ticks(count, intervalMs)``), written as strawberry resolvers: ``ticks`` yields 0 .. count - 1
and waits ``intervalMs`` after each. The wire counts (messages by ``type``) come from
:mod:`tests.protocols.asgi_counts`; ``resolved`` counts what the resolvers produced.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncGenerator

import strawberry
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from tests.protocols.asgi_counts import Counted
from tests.protocols.socketio_server import serve

resolved: Counter[str] = Counter()


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        resolved["hello"] += 1
        return "world"

    @strawberry.field
    def echo(self, text: str) -> str:
        resolved["echo"] += 1
        return text


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, count: int = 10, interval_ms: int = 100) -> AsyncGenerator[int, None]:
        for i in range(count):
            resolved["ticks"] += 1
            yield i
            await asyncio.sleep(interval_ms / 1000)


def classify(text: str) -> str:
    """Name a graphql-transport-ws message by its ``type``."""
    try:
        return str(json.loads(text).get("type", "other"))
    except (ValueError, AttributeError):
        return "invalid"


def build() -> Counted:
    schema = strawberry.Schema(query=Query, subscription=Subscription)
    app = GraphQL(schema, subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL])
    return Counted(app, classify, lambda: {"resolved": dict(resolved)})


if __name__ == "__main__":
    serve(build())
