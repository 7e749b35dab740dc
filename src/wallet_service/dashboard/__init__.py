"""The manager dashboard: a server-rendered page and its own static files (no CDN)."""
