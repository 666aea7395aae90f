"""Report section builders, one module per topic."""
