"""rlviz: deep reinforcement learning you can watch, read and compare.

The library is importable without Streamlit; only ``rlviz.ui`` touches it.
"""

__version__ = "0.3.0"  # part of every run's cache key: bump it when the same config would train differently
