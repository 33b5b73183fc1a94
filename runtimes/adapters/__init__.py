"""Concrete runtime adapters, one module per runtime kind; see ``runtimes.registry``."""
