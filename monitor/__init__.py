"""gate-monitor: the gate's published scores as Prometheus metrics, and Slack alerts on them."""
