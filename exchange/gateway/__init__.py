"""The HTTP edge: aiohttp handlers over the core, errors rendered in one place."""
