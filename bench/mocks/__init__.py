"""Mock upstreams as raw ASGI apps (no framework cost), served by uvicorn: http, llm, mcp."""
