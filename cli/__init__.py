"""The typer command-line layer: parse, call one library function, render. Heavy imports live inside commands."""
