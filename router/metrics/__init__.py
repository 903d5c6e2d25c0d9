"""Prometheus metrics of the router (``switchboard_*``), on Ray's exporter or a
``prometheus_client`` registry."""
