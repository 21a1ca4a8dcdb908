"""The portal's shell: home page, language switch, health check, key check values."""
