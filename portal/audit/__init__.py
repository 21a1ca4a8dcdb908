"""The tamper-evident audit trail that every area writes to (SEC-JOU)."""
