"""`python -m loadtest [OPTIONS]` drives scanners (loadtest.cli); `python -m loadtest COMMAND [OPTIONS]`
runs one of the benchmarks in COMMANDS, each the `main` of its own module."""

import importlib
import sys

COMMANDS = {
    "records": "loadtest.records",  # times the read API
    "transfer": "loadtest.transfer",  # times exports and imports
    "suite": "loadtest.suite",  # the benchmark suite of issue 10
    "history": "loadtest.history",  # the partitioned scans log after a week and after a year
    "scaleout": "loadtest.scaleout",  # 1, 2 and 3 hubs behind HAProxy
    "faults": "loadtest.faults",  # faults under load: recovery times and worst acks
    "scale": "loadtest.scale",  # one hub on 10 million bags and 10,000 websockets
}

if sys.argv[1:2] and sys.argv[1] in COMMANDS:
    command = importlib.import_module(COMMANDS[sys.argv[1]]).main
    command(sys.argv[2:], prog_name=f"python -m loadtest {sys.argv[1]}")
else:
    from loadtest.cli import main

    main()
