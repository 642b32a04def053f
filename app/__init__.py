"""The application object one Sanad process shares between its channels: the settings and
the services (database, FAQ, handoff engine, ports, flood control, bus). Cores and adapters
take it; the entry points in ``sanad/`` (CLI, runner) build it."""
