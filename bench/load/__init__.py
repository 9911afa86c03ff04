"""Load generators: wrk (preferred) and an asyncio/aiohttp fallback, both with real percentiles."""
