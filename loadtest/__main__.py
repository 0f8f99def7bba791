import sys

if sys.argv[1:2] == ["transfer"]:
    from loadtest.transfer import main

    main(sys.argv[2:], prog_name="python -m loadtest transfer")
else:
    from loadtest.cli import main

    main()
