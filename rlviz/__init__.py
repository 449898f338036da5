"""rlviz: deep reinforcement learning you can watch, read and compare.

The library is importable without Streamlit; only ``rlviz.ui`` touches it.
"""

__version__ = "0.1.0"
