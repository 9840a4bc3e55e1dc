"""FlatFlow flow: kernel specs, rendering, tool wrappers, reports and the CLI."""
