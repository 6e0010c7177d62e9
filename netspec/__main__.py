from netspec.cli import command

raise SystemExit(command())
