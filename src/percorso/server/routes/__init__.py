"""One router module per area of the REST API (``/v1``)."""
