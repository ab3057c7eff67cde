"""The asyncio server: actors, the inspector WebSocket endpoint, the HTTP API and the CLI."""
