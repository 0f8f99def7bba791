"""`python -m loadtest [OPTIONS]` drives scanners (loadtest.cli); `python -m loadtest records
[OPTIONS]` times the read API (loadtest.records)."""

import sys

if sys.argv[1:2] == ["records"]:
    from loadtest.records import main as records

    records(sys.argv[2:], prog_name="python -m loadtest records")
else:
    from loadtest.cli import main

    main()
