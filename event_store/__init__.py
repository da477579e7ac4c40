"""The event store: everything that reads or writes the event log's tables.

The PostgreSQL recorder (``postgres_recorder``), the log's head and an image's event positions
(``positions``), bulk loading of streams for the writer (``stream_loader``), decoded reads of
the log (``log_reader``) and the thread loop that follows it (``log_follower``, stepping aside
for bulk writes with ``bulk_yield``). It depends on ``domain`` only; the write side, the
projections, the rooms and the service layer all read the log through it. See
docs/adr/0003-service-layer-and-event-store.md.
"""
