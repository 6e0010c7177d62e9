"""`netspec completion bash|zsh`: a static shell completion script, read off the argparse
parser (subcommands, their options, and the choices of options and arguments), so it never
drifts from the command line it completes. Arguments without choices complete file names.

    eval "$(netspec completion bash)"     # in ~/.bashrc
    eval "$(netspec completion zsh)"      # in ~/.zshrc, after compinit
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

SHELLS = ("bash", "zsh")


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    choices: tuple[str, ...]
    takes_value: bool
    path: bool
    """Its value is a path (a string); numbers complete to nothing."""


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    positional_choices: tuple[str, ...]
    """Choices of the first positional argument (none: it is a file)."""


def _option(action: argparse.Action) -> Option:
    return Option(
        tuple(action.option_strings),
        action.help or "",
        tuple(str(c) for c in action.choices or ()),
        action.nargs != 0,
        action.nargs != 0 and action.type in (None, str),
    )


def commands(parser: argparse.ArgumentParser) -> tuple[tuple[Option, ...], tuple[Command, ...]]:
    """The top-level options and every subcommand, as the parser defines them."""
    top: list[Option] = []
    found: list[Command] = []
    for action in parser._actions:  # noqa: SLF001  (argparse has no public walk)
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {a.dest: a.help or "" for a in action._choices_actions}  # noqa: SLF001
            for name, sub in action.choices.items():
                options = tuple(_option(a) for a in sub._actions if a.option_strings)  # noqa: SLF001
                positional = [a for a in sub._actions if not a.option_strings]  # noqa: SLF001
                choices = tuple(str(c) for c in (positional[0].choices or ())) if positional else ()
                found.append(Command(name, helps.get(name, ""), options, choices))
        elif action.option_strings:
            top.append(_option(action))
    return tuple(top), tuple(found)


def _words(items: list[str]) -> str:
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", w) for w in items), items
    return " ".join(items)


def bash(parser: argparse.ArgumentParser) -> str:
    top, subs = commands(parser)
    prog = parser.prog
    func = "_" + re.sub(r"\W", "_", prog)
    first = _words([c.name for c in subs] + [f for o in top for f in o.flags])
    lines = [
        f'# bash completion for {prog}: eval "$({prog} completion bash)"',
        f"{func}() {{",
        "    local cur prev cmd opts",
        '    cur="${COMP_WORDS[COMP_CWORD]}"',
        '    prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    cmd="${COMP_WORDS[1]}"',
        "    if [[ $COMP_CWORD -eq 1 ]]; then",
        f'        COMPREPLY=($(compgen -W "{first}" -- "$cur"))',
        "        return",
        "    fi",
        '    case "$cmd $prev" in',
    ]
    for sub in subs:
        for option in sub.options:
            if option.choices:
                for flag in option.flags:
                    lines.append(
                        f'        "{sub.name} {flag}") COMPREPLY=($(compgen -W '
                        f'"{_words(list(option.choices))}" -- "$cur")); return ;;'
                    )
            elif option.takes_value:  # a path: offer files; a number: nothing
                for flag in option.flags:
                    files = 'COMPREPLY=($(compgen -f -- "$cur"))' if option.path else "COMPREPLY=()"
                    lines.append(f'        "{sub.name} {flag}") {files}; return ;;')
    lines += ["    esac", '    case "$cmd" in']
    for sub in subs:
        flags = _words([f for o in sub.options for f in o.flags])
        if sub.positional_choices:
            words = _words(list(sub.positional_choices))
            lines.append(
                f'        {sub.name}) opts="{flags}"; [[ "$cur" == -* ]] || '
                f'{{ COMPREPLY=($(compgen -W "{words}" -- "$cur")); return; }} ;;'
            )
        else:
            lines.append(f'        {sub.name}) opts="{flags}" ;;')
    lines += [
        "        *) return ;;",
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
        "    else",
        '        COMPREPLY=($(compgen -f -- "$cur"))',
        "    fi",
        "}",
        f"complete -o filenames -o bashdefault -F {func} {prog}",
    ]
    return "\n".join(lines) + "\n"


def _zsh_text(text: str) -> str:
    """Help text inside a single-quoted `_arguments` spec: brackets, colons and quotes escaped."""
    text = re.sub(r"\s+", " ", text).strip()
    for ch in "\\[]:":
        text = text.replace(ch, "\\" + ch)
    return text.replace("'", "'\\''")


def _zsh_spec(option: Option) -> str:
    action = ""
    if option.takes_value:
        action = (
            f":value:({' '.join(option.choices)})"
            if option.choices
            else (":value:_files" if option.path else ":value: ")
        )
    help_ = _zsh_text(option.help)
    if len(option.flags) == 1:
        return f"'{option.flags[0]}[{help_}]{action}'"
    exclusive = " ".join(option.flags)
    return f"'({exclusive})'{{{','.join(option.flags)}}}'[{help_}]{action}'"


def zsh(parser: argparse.ArgumentParser) -> str:
    top, subs = commands(parser)
    prog = parser.prog
    func = "_" + re.sub(r"\W", "_", prog)
    lines = [
        f"#compdef {prog}",
        f'# zsh completion for {prog}: eval "$({prog} completion zsh)" after compinit',
        f"{func}() {{",
        "    local -a subcommands",
        "    subcommands=(",
    ]
    for sub in subs:
        lines.append(f"        '{sub.name}:{_zsh_text(sub.help)}'")
    lines += [
        "    )",
        "    local curcontext=$curcontext state line",
        "    _arguments -C \\",
    ]
    for option in top:
        lines.append(f"        {_zsh_spec(option)} \\")
    lines += [
        "        '1:command:->command' \\",
        "        '*::argument:->argument'",
        "    case $state in",
        f"        command) _describe -t commands '{prog} command' subcommands ;;",
        "        argument)",
        "            case $words[1] in",
    ]
    for sub in subs:
        specs = [_zsh_spec(o) for o in sub.options]
        if sub.positional_choices:
            specs.append(f"'1:{sub.name}:({' '.join(sub.positional_choices)})'")
        else:
            specs.append("'*:file:_files'")
        lines.append(f"                {sub.name}) _arguments {' '.join(specs)} ;;")
    lines += [
        "            esac ;;",
        "    esac",
        "}",
        f'if [ "$funcstack[1]" = "{func}" ]; then',
        f'    {func} "$@"',
        "else",
        f"    compdef {func} {prog}",
        "fi",
    ]
    return "\n".join(lines) + "\n"


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    if shell not in SHELLS:
        raise ValueError(f"no completion for {shell!r} (choose from {', '.join(SHELLS)})")
    return bash(parser) if shell == "bash" else zsh(parser)
