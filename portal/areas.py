"""The user-facing areas, in dependency order; each package's init_app wires it into the app.

A module of its own so that the app factory, the demo and the model registry read one list
without importing each other.
"""

AREAS = ("accounts", "access", "audit", "meddra", "protocols", "notices", "records", "reports",
         "rights", "retention", "backups", "registers", "outbox",
         "jobs", "builder")
