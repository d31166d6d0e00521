"""The host agent program (`monitord agent`): a small HTTP server run on each server.

Not a collector: the daemon pulls it with the `agent` collector (collectors/agent/).
- `server`: HTTP server, token auth, TLS, /metrics and /inventory;
- `config`: the agent's own YAML config;
- `checks`: services, backups, files and security inputs;
- `inventory`: hardware and software inventory;
- `hostread`: the psutil readers, shared with the daemon's local `host` collector.
"""
