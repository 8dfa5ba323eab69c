"""`python -m ashiato`: the same command as `ashiato`."""

from ashiato.collector.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
