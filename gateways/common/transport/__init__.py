"""Transport clients of the data plane: HTTP/1.1 (h1*, http_client) and RESP (resp), apart from gateway services.

Nothing here knows projects, tokens or limits: these modules move bytes to upstreams and to Redis. The
services in gateways/common (auth, config, router, limits, writers) build on them, never the reverse
(the SSRF guard, ssrf.py, is the one service the transport calls: it pins each dial to a checked address).
"""
