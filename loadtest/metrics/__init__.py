"""Samples and their aggregates: histograms, close codes, handshake classes, backoff, the recorder.

Nothing here touches a socket, gevent or Locust.
"""
