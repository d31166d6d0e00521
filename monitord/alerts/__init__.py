"""Alerting: everything between a state snapshot and a message in someone's inbox.

- `config`: the `alerts:` config section, built-in rules (`rules.yaml`), message catalog
  (`messages.yaml`), `Severity`, `Notification`;
- `rules`: rule conditions over a snapshot (pure);
- `engine`: the rule state machine (pending, firing, resolved, flapping, muting);
- `texts`: what an alert says (catalog texts rendered for people);
- `dispatch`: per-notifier queues, retries and delivery metrics (the senders themselves
  are handed in by the composition root; they live in `exporters/notify`);
- `maintenance`: maintenance windows and run-time silences (one calendar, also read by
  the monthly reports);
- `control`: the daemon's local control socket and `monitord silence`.
"""
