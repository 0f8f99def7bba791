"""`python -m loadtest [OPTIONS]` drives scanners (loadtest.cli); `python -m loadtest records
[OPTIONS]` times the read API (loadtest.records); `python -m loadtest transfer [OPTIONS]` times
exports and imports (loadtest.transfer); `python -m loadtest suite [OPTIONS]` runs the benchmark
suite (loadtest.suite); `python -m loadtest scale [OPTIONS]` runs one hub at scale (loadtest.scale)."""

import sys

if sys.argv[1:2] == ["records"]:
    from loadtest.records import main as records

    records(sys.argv[2:], prog_name="python -m loadtest records")
elif sys.argv[1:2] == ["transfer"]:
    from loadtest.transfer import main as transfer

    transfer(sys.argv[2:], prog_name="python -m loadtest transfer")
elif sys.argv[1:2] == ["suite"]:
    from loadtest.suite import main as suite

    suite(sys.argv[2:], prog_name="python -m loadtest suite")
elif sys.argv[1:2] == ["scale"]:
    from loadtest.scale import main as scale

    scale(sys.argv[2:], prog_name="python -m loadtest scale")
else:
    from loadtest.cli import main

    main()
