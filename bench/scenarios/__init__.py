"""One module per scenario; each `run(bench, systems)` returns result rows (bench.report.Row)."""
