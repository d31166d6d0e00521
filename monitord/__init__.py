"""monitord: the monitoring daemon of the Oficina de Sistemas."""

__version__ = "0.1.0"
