"""``python -m threadline``."""

from threadline.cli.main import main

if __name__ == "__main__":
    main()
