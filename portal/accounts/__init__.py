"""Nominative accounts, strong authentication and server-side sessions (SEC-AUT, SEC-SES)."""
