"""The home page, the language switch and the health check: the pages outside any area."""
