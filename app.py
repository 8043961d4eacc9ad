"""The checkout's entry point: `python app.py [options]` is `saltapi serve [options]` (see `--help`), and
`flask --app app <command>` finds the app here for Flask's CLI."""

from saltapi import create_app
from saltapi.console import serve_command

if __name__ == "__main__":
    serve_command(prog_name="app.py")
else:
    app = create_app()
