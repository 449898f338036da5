"""A training worker process: ``python -m rlviz.worker FD`` (started by rlviz.executors.LocalExecutor).

FD is the worker's end of a socket pair with the server; jobs arrive and results leave over it.
"""

import socket
import sys
from multiprocessing.connection import Connection

from rlviz.executors import worker_main

if __name__ == "__main__":
    worker_main(Connection(socket.socket(fileno=int(sys.argv[1])).detach()))
