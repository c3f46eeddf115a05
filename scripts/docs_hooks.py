"""MkDocs hooks (mkdocs.yml `hooks:`): the reference pages are generated from the code at every build.

Why generated, not written: a hand-kept list of commands and settings drifts the day a flag is added. The CLI page
walks the click command tree typer builds from `scientist.cli.app` (hidden commands left out); the settings page
reads the `Settings` pydantic model's fields (name, type, default, description, environment variable); the
changelog page is CHANGELOG.md at the repository root. tests/test_docs.py checks the built site against the code.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[1]


def _inline(text: str | None) -> str:
    """Help text on one Markdown line (typer keeps the docstring's line breaks)."""
    return " ".join((text or "").split())


# typer builds its command tree with its own copy of click (typer._click), so the tree is read by duck typing.
Command = Any


def _param(param: Any, context: Any) -> str:
    """One parameter as a list item: an argument's name, or an option's declaration and help as `--help` shows them
    (type, choices and default included)."""
    if param.param_type_name == "argument":
        required = "required" if param.required else "optional"
        line = f"`{(param.name or '').upper()}` (argument, {required})"
        help_text = _inline(getattr(param, "help", None))
        return f"- {line}: {help_text}" if help_text else f"- {line}"
    declaration, help_text = param.get_help_record(context)
    help_text = _inline(help_text)
    return f"- `{declaration}`: {help_text}" if help_text else f"- `{declaration}`"


def _argument_pieces(command: Command) -> list[str]:
    pieces = []
    for param in command.params:
        if param.param_type_name == "argument":
            name = (param.name or "").upper() + ("..." if param.nargs == -1 else "")
            pieces.append(name if param.required else f"[{name}]")
    return pieces


def _is_group(command: Command) -> bool:
    return hasattr(command, "list_commands")


def _context(command: Command, name: str) -> Any:
    return command.context_class(command, info_name=name)


def _commands(command: Command, path: list[str]) -> list[tuple[list[str], Command]]:
    """Every visible command under `command`, depth first, in the order `--help` lists them."""
    found = [(path, command)]
    if _is_group(command):
        context = _context(command, path[-1])
        for name in command.list_commands(context):
            child = command.get_command(context, name)
            if child is not None and not child.hidden:
                found += _commands(child, [*path, name])
    return found


def cli_reference() -> str:
    """docs/reference/cli.md: every command with its usage, help and parameters."""
    import typer

    from scientist.cli import app

    root = typer.main.get_command(app)
    lines = [
        "# Command-line reference",
        "",
        "Generated from the code at every build of this site (`scripts/docs_hooks.py`): every command of",
        "`scientist`, its arguments and options. `scientist COMMAND --help` prints the same in a terminal; exit codes",
        "are on [their own page](exit-codes.md).",
        "",
    ]
    for path, command in _commands(root, ["scientist"]):
        level = "##" if len(path) <= 2 else "###"
        lines += [f"{level} {' '.join(path)}", ""]
        context = _context(command, path[-1])
        usage = " ".join([*path, "[OPTIONS]", *_argument_pieces(command)])
        if _is_group(command):
            usage = " ".join([*path, "[OPTIONS]", "COMMAND [ARGS]..."])
        lines += ["```", usage, "```", ""]
        if command.help:
            lines += [command.help.strip(), ""]
        params = [param for param in command.get_params(context) if param.name != "help"]
        params = [param for param in params if not getattr(param, "hidden", False)]
        if params:
            lines += [_param(param, context) for param in params] + [""]
        if _is_group(command):
            children = [name for name in command.list_commands(context) if command.get_command(context, name)]
            lines += ["Commands: " + ", ".join(f"`{name}`" for name in children), ""]
    return "\n".join(lines)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    text = str(annotation)
    for prefix in ("typing.", "pathlib.", "pydantic.types.", "scientist.config."):
        text = text.replace(prefix, "")
    return text


def settings_reference() -> str:
    """docs/reference/settings.md: every field of `Settings` and of a `[models."..."]` override."""
    from pydantic.fields import FieldInfo

    from scientist.config import ModelOverride, Settings

    def entry(name: str, field: FieldInfo, env: bool) -> list[str]:
        if field.default_factory is not None:
            produced = field.default_factory()  # type: ignore[call-arg]
            default = "computed at start-up" if isinstance(produced, Path) else f"`{produced!r}`"
        else:
            default = f"`{field.default!r}`"
        out = [f"### {name}", "", f"- type: `{_type_name(field.annotation)}`", f"- default: {default}"]
        if env:
            out.append(f"- environment variable: `SCIENTIST_{name.upper()}`")
        bounds = [f"{key} {value}" for item in field.metadata for key, value in _bounds(item)]
        if bounds:
            out.append(f"- allowed: {', '.join(bounds)}")
        return [*out, "", _inline(field.description) or "(no description)", ""]

    lines = [
        "# Settings reference",
        "",
        "Generated from `scientist.config.Settings` at every build of this site. Precedence: command-line flags >",
        "`SCIENTIST_*` environment variables > `./scientist.toml` (or the file `SCIENTIST_CONFIG` names) > these",
        "defaults. The key in `scientist.toml` is the setting's name; `scientist config show` prints the effective",
        "values, secrets masked. An unknown key is an error, not ignored.",
        "",
        "## Run settings",
        "",
    ]
    for name, field in Settings.model_fields.items():
        lines += entry(name, field, env=True)
    lines += [
        '## Per-model overrides: `[models."provider/name"]`',
        "",
        "What litellm does not know (or gets wrong) about a model, in `scientist.toml`:",
        "",
        "```toml",
        '[models."openai/Qwen/Qwen2.5-7B-Instruct"]',
        "context_window = 32768",
        "max_output_tokens = 4096",
        "```",
        "",
    ]
    for name, field in ModelOverride.model_fields.items():
        lines += entry(name, field, env=False)
    return "\n".join(lines)


def _docstring_markdown(doc: str | None) -> list[str]:
    """A module docstring as Markdown: its indented example becomes a TOML code block."""
    import inspect

    out: list[str] = []
    in_code = False
    for line in inspect.cleandoc(doc or "").splitlines():
        code = line.startswith("    ")
        if code and not in_code:
            out.append("```toml")
        if not code and in_code and line.strip():
            out += ["```", ""]
        in_code = code or (in_code and not line.strip())
        out.append(line[4:] if code else line)
    if in_code:
        out.append("```")
    return [*out, ""]


def _field_items(model: Any) -> list[str]:
    """One list item per field of a pydantic model: name, type, default (or required) and description."""
    from pydantic_core import PydanticUndefined

    items = []
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            default = f"default `{field.default_factory()!r}`"
        elif field.default is PydanticUndefined:
            default = "required"
        else:
            default = f"default `{field.default!r}`"
        description = _inline(field.description)
        item = f"- `{name}` (`{_type_name(field.annotation)}`, {default})"
        items.append(f"{item}: {description}" if description else item)
    return [*items, ""]


def formats_reference() -> str:
    """docs/reference/file-formats.md: the study file and the probe suite file, from their pydantic models."""
    import scientist.probing.spec as probe_spec
    import scientist.study.spec as study_spec

    lines = [
        "# File formats",
        "",
        "Generated from the code at every build of this site. Both files are TOML, checked completely before any run",
        "starts: an unknown key, variant, template, model or setting is one error naming it and the valid options.",
        "The experiment template format (`template.toml`) is described in [Experiment templates](../templates.md).",
        "",
        "## Study file",
        "",
        "`scientist study run STUDY.toml`, `study status`, `study report`.",
        "",
        *_docstring_markdown(study_spec.__doc__),
        "### Keys",
        "",
        *_field_items(study_spec.StudySpec),
        "### `[budget]`",
        "",
        *_field_items(study_spec.StudyBudget),
        "## Probe suite file",
        "",
        "`scientist probe run SUITE.toml`, `probe report`.",
        "",
        *_docstring_markdown(probe_spec.__doc__),
        "### Keys",
        "",
        *_field_items(probe_spec.SuiteSpec),
        "### `[[probes]]`",
        "",
        *_field_items(probe_spec.ProbeSpec),
    ]
    return "\n".join(lines)


def _bounds(constraint: Any) -> list[tuple[str, Any]]:
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >=", "max_length": "length <="}
    return [(symbol, getattr(constraint, key)) for key, symbol in symbols.items() if hasattr(constraint, key)]


def _receiver(node: Any) -> str:
    """`ctx.audit` for `ctx.audit.append(...)`: the dotted name the method is called on."""
    import ast

    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _kind_names(node: Any, constants: dict[str, list[str]]) -> list[str]:
    """The record kind(s) an argument names: a string, `"a" if ... else "b"`, or a name assigned one of those in
    the module or the enclosing function."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.Name | ast.Attribute) and (kind := _event_kinds().get(_receiver(node).split(".")[-1])):
        return [kind]
    if isinstance(node, ast.IfExp):
        return _kind_names(node.body, constants) + _kind_names(node.orelse, constants)
    return []


def _kind_argument(node: Any) -> Any:
    """The argument naming the kind in an audit write, or None when `node` is not one: `<...>audit.append(KIND,
    ...)`, `<...>log.append(KIND, ...)`, `AuditLog(...).append(KIND, ...)`, and the log's own
    `_write_record(fd, tail, KIND, ...)`."""
    import ast

    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    target = node.func.value
    if node.func.attr == "_write_record" and len(node.args) > 2:
        return node.args[2]
    if node.func.attr == "emit" and node.args and isinstance(node.args[0], ast.Call):
        return node.args[0].func  # audit.emit(NodeStart(...), actor): the model, a kind through _event_kinds()
    if node.func.attr != "append" or not node.args:
        return None
    made_here = isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == "AuditLog"
    if made_here or _receiver(target).split(".")[-1] in ("audit", "log"):
        return node.args[0]
    return None


def _event_kinds() -> dict[str, str]:
    """Model class name -> its audit kind (scientist.audit.events), so `emit(Model(...))` is found like a string."""
    from scientist.audit.events import EVENTS

    return {model.__name__: kind for kind, model in EVENTS.items()}


def _string_names(statements: list[Any]) -> dict[str, list[str]]:
    """`NAME = "kind"` (or a conditional between two strings) among `statements`: name -> the strings."""
    import ast

    found: dict[str, list[str]] = {}
    for statement in statements:
        if isinstance(statement, ast.Assign):
            values = _kind_names(statement.value, {})
            for target in statement.targets:
                if values and isinstance(target, ast.Name):
                    found[target.id] = [*found.get(target.id, []), *values]
    return found


def audit_kinds() -> dict[str, list[str]]:
    """Every audit record kind the source writes under a fixed name -> the modules that write it, from every
    package folder (pyproject's package-dir); experiment templates are programs run in the sandbox, not the harness."""
    import ast
    import tomllib

    mapping = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    kinds: dict[str, set[str]] = {}
    for package, folder in mapping.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO / folder)
            if relative.parts[0] == "templates":
                continue
            module = ".".join([package, *relative.with_suffix("").parts]).removesuffix(".__init__")
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module_names = _string_names(tree.body)
            scopes = [(tree, module_names)] + [
                (function, {**module_names, **_string_names(list(ast.walk(function)))})
                for function in ast.walk(tree)
                if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            for scope, constants in scopes:
                for node in ast.walk(scope):
                    for kind in _kind_names(_kind_argument(node), constants):
                        kinds.setdefault(kind, set()).add(module)
    return {kind: sorted(modules) for kind, modules in sorted(kinds.items())}


def audit_reference() -> str:
    from scientist.audit.events import EVENTS

    lines = [
        "# Audit record kinds",
        "",
        "Generated from the source at every build of this site: every kind of record the harness writes to a run's",
        "`audit.jsonl`, the fields of its payload and the modules that write it. Each record holds `seq`, `time`,",
        "`kind`, `actor`, a `payload` (large values go to `blobs/` by sha256) and the hash chaining it to the record",
        "before; `scientist audit verify RUN` checks the chain.",
        "",
        "Each kind has a pydantic model in `scientist/audit/events.py`: a payload that does not match it is refused",
        "when it is written, and `scientist.audit.events.typed(record)` reads a record back as its model (a kind",
        "without one, or a payload an older version wrote, comes back as a `GenericEvent`). Fields marked `?` are",
        "not always present; an *open* payload may carry more keys than listed (it is built from another model or",
        "the caller's context).",
        "",
        "| kind | payload fields | what it records | written by |",
        "|---|---|---|---|",
    ]
    writers = audit_kinds()
    for kind in sorted(set(EVENTS) | set(writers)):
        model = EVENTS.get(kind)
        if model is None:
            fields, about = "(no model)", ""
        else:
            named = [(info.alias or name, info.is_required()) for name, info in model.model_fields.items()]
            fields = ", ".join(f"`{name}{'' if required else '?'}`" for name, required in named)
            fields = (fields or "(none)") + (" *open*" if model.model_config.get("extra") == "allow" else "")
            about = " ".join((model.__doc__ or "").split("\n\n")[0].split()).replace("|", "\\|")
        modules = ", ".join(f"`{module}`" for module in writers.get(kind, []))
        lines.append(f"| `{kind}` | {fields} | {about} | {modules} |")
    return "\n".join([*lines, ""])


GENERATED = {
    "reference/audit-kinds.md": audit_reference,
    "reference/file-formats.md": formats_reference,
    "reference/cli.md": cli_reference,
    "reference/settings.md": settings_reference,
    "changelog.md": lambda: (REPO / "CHANGELOG.md").read_text(encoding="utf-8"),
}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages to the site (they exist only in the build, never in docs/)."""
    for uri, render in GENERATED.items():
        files.append(File.generated(config, uri, content=render()))
    return files
