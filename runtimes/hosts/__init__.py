"""Hosts and capacity: what each worker's machine has (``probe``, ``heartbeat``), which hosts are
live and what is placed on them (``registry``), and where a runtime fits (``placement``).

The lifecycle uses these (``runtimes.lifecycle.capacity`` and ``failover``); nothing here moves
an asset's state.
"""
