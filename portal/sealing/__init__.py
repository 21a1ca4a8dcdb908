"""Sealing: authenticated encryption of values and of long streams (SEC-CRY-1).

- stream: the chunked AES-256-GCM format of backup files (a documented header, each chunk
  bound to its index and the last one marked).
"""
