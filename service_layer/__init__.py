"""Application services: the use cases every entry point calls alike.

HTTP (``web``), the CLI (``labelwright``) and inference workers register images, store their
bytes, and import predictions as pre-labels through these modules, so each use case exists
once. They raise domain errors (``domain.errors``), never HTTP ones; the web layer maps each
error's ``code`` to a status. See docs/adr/0003-service-layer-and-event-store.md.
"""
