"""HTTP endpoints of ``/api/v1``, one module per resource; ``web.app`` wires them."""
