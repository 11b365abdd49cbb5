"""The peers' dialects (registered in :mod:`snnx.nir._dialects`)."""
