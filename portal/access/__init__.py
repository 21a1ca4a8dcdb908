"""Roles, establishments, time-limited access grants and their review (section 8, SEC-HAB)."""
