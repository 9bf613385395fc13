"""The station registry: `ref.stations`."""
