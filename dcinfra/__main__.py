"""``python -m dcinfra``: the same command line as the ``dcinfra`` console script."""

from dcinfra.cli import main

if __name__ == "__main__":
    main()
