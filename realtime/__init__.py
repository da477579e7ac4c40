"""Live collaboration: WebSocket rooms, presence, resume, and fan-out across nodes.

Reading order: ``live`` (how the parts are wired and started), ``log_tail`` and ``room_feed``
(the event log turned into room messages), ``hub`` (rooms, membership, per-room order, the
join hand-over), ``outbox`` (per-connection back-pressure), ``session`` and ``protocol`` (the
WebSocket protocol of docs/realtime.md), ``room_state`` (what a joining client is sent),
``presence`` (throttling), ``redis_bus`` and ``cluster`` (other nodes). Client-facing
documentation: docs/realtime.md.
"""
