"""ONNX Runtime on the CPU: the one place where a session's options are set.

Every model kesheng runs with onnxruntime (the sentiment transformer, the LAC name tagger, the
graphs training.export checks) is run one call at a time per session, with a fixed number of
intra-op threads; the target machine has 2 cores shared with other work.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

CPU_PROVIDERS = ["CPUExecutionProvider"]


def session_options(threads: int) -> ort.SessionOptions:
    """Options for a CPU session with `threads` intra-op threads, all graph optimisations, run sequentially."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    # One call at a time per session: inter-op parallelism only competes with the intra-op threads.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def cpu_session(path: Path, threads: int) -> ort.InferenceSession:
    """An inference session of the ONNX file `path` on the CPU (onnxruntime's own errors propagate)."""
    return ort.InferenceSession(str(path), session_options(threads), providers=CPU_PROVIDERS)


__all__ = ["CPU_PROVIDERS", "cpu_session", "session_options"]
