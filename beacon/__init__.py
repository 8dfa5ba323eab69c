"""Pure collection logic: the event model, consent, enrichment, tokens and parsers.

Nothing here performs I/O or imports aiohttp, clickhouse-driver or chdb: readers, keys and
compiled settings are built once at start-up by the caller and handed in.
"""
