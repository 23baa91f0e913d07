"""Call-centre batch analysis on the streaming engine: many recordings, per-call results and summaries,
a table of all calls, an HTML report; a local process pool or a Dask cluster.

Importing this package loads no model and imports neither torch, dask nor pyarrow; the work lives in
:mod:`streamer.batch.runner` (``run_batch``), the per-call analysis in :mod:`streamer.batch.worker`.
"""

from streamer.batch.settings import BatchSettings

__all__ = ["BatchSettings"]
