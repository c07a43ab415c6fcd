"""``fastdepth-ros bench``: what this machine does with FastDepth, in one JSON + one table.

Figures (each median / p90 / p99 / n over many runs after warm-up):

1. model-only latency per available execution provider and ORT thread count, for the
   shipped model, the unpruned architecture (exported from ``training.model`` at bench
   time) and, with ``--reference-dir``, the official pruned reference model;
2. encoder vs decoder time (the paper's Fig. 3) from ORT profiling;
3. the same architectures in PyTorch eager, interleaved with ORT in the same rotation
   (ratio ORT / eager);
4. the node end to end across processes (``bench/e2e.py``);
5. MACs, parameters and a roofline fraction (model GMAC/s / measured MatMul peak).

Torch is imported only by the parts that need it (unpruned export, eager timing); without
torch those rows are skipped with the reason recorded.

Modules: :mod:`.cli` (options, ``fastdepth-ros bench``), :mod:`.run` (the measuring order),
:mod:`.models` (model-only timing, profiling, MACs), :mod:`.e2e` (node end to end),
:mod:`.report` (machine description, tables).
"""
