"""The protocols people run over WebSocket: Socket.IO v4, GraphQL over WebSocket, STOMP 1.2.

Each protocol has a sans-I/O codec (``socketio_packets``, ``graphql_messages``, ``stomp_frames``),
shared with the embedded target's dialects, and a user class on the public session API
(``socketio.SocketIOUser``, ``graphql_ws.GraphQLUser``, ``stomp.StompUser``) that keeps its own
correlation (ack ids, subscription ids, receipt ids). Importing this package imports neither
gevent nor Locust: the embedded target imports the codecs in its plain asyncio process.
"""
