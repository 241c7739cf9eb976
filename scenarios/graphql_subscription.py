"""GraphQL subscriptions over WebSocket (graphql-transport-ws): subscribe, follow to complete, again.

    locust -f scenarios/graphql_subscription.py --headless -u 20 -r 10 -t 1m \
        [--host ws://api.example.com] [--ws-graphql-path /graphql] \
        [--ws-graphql-document 'subscription { ticks(count: 10, intervalMs: 100) }']

Rows: `graphql connect` (upgrade to connection_ack), `graphql first next` (time to the first
event), `graphql subscription` (time to complete; an error message is a failure with the server's
text). A query or mutation document is run instead as a request: `graphql query` (its result's
round trip: the RTT). The summary's protocols.graphql has the counts and the time to first next
and events per subscription as histograms.
"""

from locust import constant, task

from loadtest.plugin.scenario import option
from loadtest.protocols import graphql_messages
from loadtest.protocols.graphql_ws import GraphQLUser

DEFAULT = "subscription { ticks(count: 10, intervalMs: 100) }"


class SubscriptionUser(GraphQLUser):
    scenario_options = ("graphql",)  # its --ws-* options show in the web UI form
    wait_time = constant(0.1)

    @task
    def operation(self) -> None:
        document = str(option(self, "ws_graphql_document", DEFAULT))
        if graphql_messages.operation_type(document) == "subscription":
            self.subscribe(document)
        else:
            self.execute(document)
