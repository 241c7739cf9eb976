"""HAR replay: from a browser's recorded WebSocket session to a locustfile.

``loadtest har FILE.har -o scenarios/recorded.py`` reads the file (:mod:`~loadtest.har.parse`),
decides what to replay and what to replace (:mod:`~loadtest.har.detect`, by the rules of
:mod:`~loadtest.har.kinds`) and writes the locustfile (:mod:`~loadtest.har.codegen`), which holds
its data as :mod:`~loadtest.har.script` objects and runs on :mod:`~loadtest.har.replay` (the only
module here that imports Locust, so the command stays fast and never patches the process with
gevent).
"""
