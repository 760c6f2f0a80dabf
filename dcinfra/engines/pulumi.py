"""The Pulumi engine: preview / up / destroy of the platform through the Automation API, returning
typed records (:class:`PlatformRecord`).

The platform layer (:mod:`dcinfra.platform`) builds the Kubernetes objects from the Plan, purely;
this module is the only one that runs the Pulumi CLI. :func:`target_for` turns a stack and its plan
into what :func:`preview`, :func:`up` and :func:`destroy` take. What it guarantees:

- **Inline program, LocalWorkspace.** The program is :func:`dcinfra.platform.program.program` over the
  platform objects; the project and the stack are both named after the dcinfra stack.
- **State in the stack's state dir.** Backend ``file://<state>/pulumi`` unless ``PULUMI_BACKEND_URL``
  is set (then that one, for a shared backend); the workspace files (Pulumi.yaml, Pulumi.<stack>.yaml)
  live in ``<state>/pulumi/workspace``.
- **Passphrase secrets.** ``PULUMI_CONFIG_PASSPHRASE`` (or ``PULUMI_CONFIG_PASSPHRASE_FILE``) when set;
  otherwise a random passphrase generated once into ``<state>/secrets/pulumi-passphrase`` (0600) and
  handed to the CLI by file name, never by value.
- **The CLI is never downloaded behind your back.** Without ``pulumi`` on PATH (or with one older than
  :data:`MIN_CLI_VERSION`, which ``destroy`` of an inline program needs) the error says how to install
  it; :meth:`PulumiCommand.install` runs only with ``install_cli=True`` (the CLI's ``--install-pulumi``
  flag).
- **Errors a person can act on**, each starting with ``platform:`` (the stage that failed): a concurrent
  update names the lock holder and how to clear a stale lock (the same style as the host-layer stack
  lock); a stack missing from its backend names the backend; any other failure quotes the CLI's error
  lines. Quoted CLI text never carries the passphrase or the backend URL's credentials.
- **Data stays.** ``destroy`` leaves protected (data-bearing) resources in place and lists them; with
  ``destroy_data=True`` it first lifts the protection in the state (``pulumi state unprotect --all``,
  which touches no cluster), then destroys everything.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dcinfra.errors import DcinfraError
from dcinfra.plan.types import Plan
from dcinfra.platform.objects import Item
from dcinfra.platform.program import program
from dcinfra.state import StateDir

PASSPHRASE_FILE = "pulumi-passphrase"
# The oldest CLI the engine runs: the SDK refuses ``destroy`` of an inline program on older ones (3.181
# added --client to destroy/refresh), so it is checked before anything runs, not at the first destroy.
MIN_CLI_VERSION = "3.181.0"
INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`) so that `pulumi` is on PATH, or rerun with "
    "--install-pulumi to let dcinfra download it (PulumiCommand.install(), into ~/.pulumi/versions/)"
)

OnOutput = Callable[[str], None]


class PulumiEngineError(DcinfraError):
    """The Pulumi engine failed; the message quotes the CLI's error."""


class PulumiCliMissing(PulumiEngineError):
    """No usable Pulumi CLI."""


class PulumiStackBusy(PulumiEngineError):
    """Another update holds the Pulumi stack."""


class PlatformDrift(PulumiEngineError):
    """``preview --expect-no-changes`` found changes."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class PulumiSettings:
    """Where and how the platform's Pulumi stack runs (no secret values)."""

    project: str  # Pulumi project name (the dcinfra stack name)
    stack: str  # Pulumi stack name (the dcinfra stack name)
    backend_url: str  # state backend, credentials removed
    work_dir: Path  # LocalWorkspace dir (Pulumi.yaml)
    passphrase_from: str  # "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE" or the file path


@dataclass(frozen=True, slots=True)
class PlatformRecord:
    """What one platform operation did."""

    operation: str  # "preview", "up" or "destroy"
    stack: str  # Pulumi stack name
    backend_url: str  # credentials removed
    result: str  # "succeeded" (an error raises instead)
    changes: dict[str, int]  # operation -> resource count, e.g. {"create": 3, "same": 70}
    kept: tuple[str, ...] = ()  # protected resources destroy left in place (URN names)
    outputs: dict[str, Any] = field(default_factory=dict)  # stack outputs after up

    @property
    def changed(self) -> bool:
        """Whether anything other than "same" happened (or would happen)."""
        return any(n for op, n in self.changes.items() if op != "same")

    def summary(self) -> str:
        """One line for people: ``up h100-su: 3 create, 70 same``."""
        parts = [f"{n} {op}" for op, n in sorted(self.changes.items()) if n]
        tail = f"; kept {len(self.kept)} protected" if self.kept else ""
        return f"{self.operation} {self.stack}: {', '.join(parts) or 'no changes'}{tail}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``--json``."""
        return {
            "operation": self.operation,
            "stack": self.stack,
            "backend_url": self.backend_url,
            "result": self.result,
            "changes": dict(sorted(self.changes.items())),
            "changed": self.changed,
            "kept": list(self.kept),
        }


def redact_url(url: str) -> str:
    """``url`` without user info or query (where credentials hide)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _passphrase_env(state: StateDir, env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    for var in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        if env.get(var):
            return {var: env[var]}, var
    path = state.secrets / PASSPHRASE_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PulumiEngineError(
            f"{path} is readable by others (mode {mode:o}); it holds the stack's secrets passphrase: "
            f"chmod 600 {path}"
        )
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}, str(path)


def settings_for(
    stack_name: str, state: StateDir, env: Mapping[str, str] | None = None
) -> tuple[PulumiSettings, dict[str, str]]:
    """The settings of the platform stack of ``stack_name`` and the environment the CLI gets.

    Creates the backend and workspace dirs (0700) and, if needed, the passphrase file (0600)."""
    env = os.environ if env is None else env
    state.ensure()
    root = state.path / "pulumi"
    work_dir = root / "workspace"
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.chmod(0o700)
    url = env.get("PULUMI_BACKEND_URL") or f"file://{root}"
    cli_env, source = _passphrase_env(state, env)
    cli_env.update({"PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    settings = PulumiSettings(
        project=stack_name,
        stack=stack_name,
        backend_url=redact_url(url),
        work_dir=work_dir,
        passphrase_from=source,
    )
    return settings, cli_env


def pulumi_command(install_cli: bool = False) -> Any:
    """The Pulumi CLI: the one on PATH (at least :data:`MIN_CLI_VERSION`), or (only with
    ``install_cli``) one downloaded by :meth:`PulumiCommand.install`."""
    from pulumi import automation as auto
    from semver import VersionInfo

    which = "the Pulumi CLI installed by --install-pulumi" if install_cli else "the Pulumi CLI on PATH"
    try:
        if install_cli:
            return auto.PulumiCommand.install()
        return auto.PulumiCommand(version=VersionInfo.parse(MIN_CLI_VERSION))
    except FileNotFoundError as e:
        what = "the Pulumi CLI (`pulumi`) is not on PATH"
        if install_cli:
            what = f"could not install the Pulumi CLI ({e})"
        raise PulumiCliMissing(f"platform: {what}: {INSTALL_HINT}") from None
    except auto.InvalidVersionError as e:
        # Too old, a newer major version than this SDK knows, or a version that does not parse.
        raise PulumiCliMissing(
            f"platform: {which} cannot be used (dcinfra needs a 3.x CLI, {MIN_CLI_VERSION} or newer): "
            f"{e} {INSTALL_HINT}"
        ) from None
    except subprocess.CalledProcessError as e:
        raise PulumiCliMissing(
            f"platform: {which} is broken: `{' '.join(map(str, e.cmd))}` exited with {e.returncode}; "
            f"{INSTALL_HINT}"
        ) from None
    except (OSError, subprocess.SubprocessError) as e:
        raise PulumiCliMissing(
            f"platform: could not run or install the Pulumi CLI ({e}): {INSTALL_HINT}"
        ) from None


def _lock_holder(text: str) -> str:
    """Who holds a Pulumi stack lock, from the CLI's error ("... created by user@host (pid N) at T")."""
    held = re.findall(r"created by ([^\n]+)", text)
    if held:
        return "; ".join(h.strip().rstrip(".") for h in held)
    return "another update (the backend did not say who)"


def _error_lines(text: str, limit: int = 12) -> str:
    # str(CommandError) is "code: N / stdout: ... / stderr: ...": the streams' labels are not the CLI's words
    lines = [re.sub(r"^(stdout|stderr): ", "", ln.strip()) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return "\n".join((errors or lines)[-limit:])


def redactions(cli_env: Mapping[str, str]) -> dict[str, str]:
    """What must never be quoted from the CLI's output, and what to write instead: the passphrase
    (from the environment or its file) and the backend URL's credentials."""
    out: dict[str, str] = {}
    url = cli_env.get("PULUMI_BACKEND_URL", "")
    if url:
        clean = redact_url(url)
        out[url] = clean
        parts = urlsplit(url)
        for secret in (parts.password, parts.username, parts.query):
            if secret and secret not in clean:
                out[secret] = "[secret]"
    passphrase = cli_env.get("PULUMI_CONFIG_PASSPHRASE", "")
    path = cli_env.get("PULUMI_CONFIG_PASSPHRASE_FILE", "")
    if path:
        try:
            passphrase = Path(path).read_text().strip()
        except OSError:
            passphrase = ""
    if passphrase:
        out[passphrase] = "[secret]"
    return out


def _scrub(text: str, redact: Mapping[str, str]) -> str:
    for secret in sorted(redact, key=len, reverse=True):  # the whole URL before its parts
        text = text.replace(secret, redact[secret])
    return text


def map_error(
    exc: BaseException,
    settings: PulumiSettings,
    operation: str,
    redact: Mapping[str, str] | None = None,
) -> DcinfraError:
    """A Pulumi Automation API exception as a dcinfra error a person can act on; quoted text goes
    through ``redact`` (secret -> replacement, see :func:`redactions`)."""
    from pulumi import automation as auto

    if isinstance(exc, DcinfraError):
        return exc
    text = _scrub(str(exc), redact or {})
    where = f"(run in {settings.work_dir}, PULUMI_BACKEND_URL={settings.backend_url})"
    if isinstance(exc, auto.ConcurrentUpdateError):
        return PulumiStackBusy(
            f"platform: Pulumi stack {settings.stack!r} is locked by {_lock_holder(text)}; wait for it to "
            f"finish. If that process is gone, clear the stale lock with "
            f"`pulumi cancel --stack {settings.stack}` {where}"
        )
    if isinstance(exc, auto.StackNotFoundError):
        return PulumiEngineError(
            f"platform: Pulumi stack {settings.stack!r} is not in the backend {settings.backend_url} "
            f"(pulumi {operation}): if its state lives in another backend, set PULUMI_BACKEND_URL to it; "
            f"otherwise rerun to create the stack. The CLI said:\n{_error_lines(text)}"
        )
    if isinstance(exc, auto.InvalidVersionError):
        return PulumiCliMissing(
            f"platform: the Pulumi CLI cannot run pulumi {operation}: {text} {INSTALL_HINT}"
        )
    if isinstance(exc, auto.InlineSourceRuntimeError):
        return PulumiEngineError(
            f"platform: the platform program (dcinfra.platform.program) raised an error in pulumi "
            f"{operation} of stack {settings.stack!r}:\n{_error_lines(text)}"
        )
    if isinstance(exc, auto.CommandError):
        hint = ""
        if "passphrase" in text.lower():
            hint = (
                f"\nThe stack's secrets passphrase came from {settings.passphrase_from}; it must be the one "
                "the stack was created with."
            )
        return PulumiEngineError(
            f"platform: pulumi {operation} of stack {settings.stack!r} failed:\n{_error_lines(text)}{hint}"
        )
    return PulumiEngineError(f"platform: pulumi {operation} of stack {settings.stack!r} failed: {text}")


def _stack(
    items: Sequence[Item],
    settings: PulumiSettings,
    cli_env: dict[str, str],
    *,
    install_cli: bool,
    kubeconfig: str | None,
    context: str | None,
    render_dir: str | None,
    protect: bool = True,
) -> Any:
    from pulumi import automation as auto

    cmd = pulumi_command(install_cli)
    kube = os.path.expanduser(kubeconfig) if kubeconfig else None
    prog = program(items, kubeconfig=kube, context=context, render_dir=render_dir, protect=protect)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(settings.work_dir),
        project_settings=auto.ProjectSettings(
            name=settings.project,
            runtime="python",
            backend=auto.ProjectBackend(url=cli_env["PULUMI_BACKEND_URL"]),
        ),
        secrets_provider="passphrase",
        env_vars=cli_env,
        pulumi_command=cmd,
    )
    return auto.create_or_select_stack(
        stack_name=settings.stack, project_name=settings.project, program=prog, opts=opts
    )


def _counts(changes: Mapping[str, Any] | None) -> dict[str, int]:
    return {str(op): int(n) for op, n in sorted((changes or {}).items())}


@dataclass(frozen=True, slots=True)
class Target:
    """What the engine runs: the objects and where they go."""

    stack: str  # dcinfra stack name
    items: tuple[Item, ...]
    state: StateDir
    kubeconfig: str | None = None
    context: str | None = None
    render_dir: str | None = None  # render manifests here instead of touching a cluster


def _run(
    target: Target,
    operation: str,
    install_cli: bool,
    env: Mapping[str, str] | None,
    fn: Callable[[Any, PulumiSettings], PlatformRecord],
    *,
    protect: bool = True,
) -> PlatformRecord:
    settings, cli_env = settings_for(target.stack, target.state, env)
    try:
        stack = _stack(
            target.items,
            settings,
            cli_env,
            install_cli=install_cli,
            kubeconfig=target.kubeconfig,
            context=target.context,
            render_dir=target.render_dir,
            protect=protect,
        )
        return fn(stack, settings)
    except DcinfraError:
        raise
    except Exception as e:
        raise map_error(e, settings, operation, redactions(cli_env)) from e


def preview(
    target: Target,
    *,
    expect_no_changes: bool = False,
    install_cli: bool = False,
    on_output: OnOutput | None = None,
    env: Mapping[str, str] | None = None,
) -> PlatformRecord:
    """What ``up`` would change. ``expect_no_changes``: raise :class:`PlatformDrift` if anything would."""

    def run(stack: Any, settings: PulumiSettings) -> PlatformRecord:
        result = stack.preview(color="never", diff=False, on_output=on_output)
        return PlatformRecord(
            "preview", settings.stack, settings.backend_url, "succeeded", _counts(result.change_summary)
        )

    record = _run(target, "preview", install_cli, env, run)
    if expect_no_changes and record.changed:
        raise PlatformDrift(f"platform drift: {record.summary()} (expected no changes)")
    return record


def up(
    target: Target,
    *,
    install_cli: bool = False,
    on_output: OnOutput | None = None,
    env: Mapping[str, str] | None = None,
) -> PlatformRecord:
    """Create or update the platform objects."""

    def run(stack: Any, settings: PulumiSettings) -> PlatformRecord:
        result = stack.up(color="never", on_output=on_output)
        outputs = {k: v.value for k, v in sorted(result.outputs.items()) if not v.secret}
        return PlatformRecord(
            "up",
            settings.stack,
            settings.backend_url,
            str(result.summary.result),
            _counts(result.summary.resource_changes),
            outputs=outputs,
        )

    return _run(target, "up", install_cli, env, run)


def destroy(
    target: Target,
    *,
    destroy_data: bool = False,
    install_cli: bool = False,
    on_output: OnOutput | None = None,
    env: Mapping[str, str] | None = None,
) -> PlatformRecord:
    """Delete the platform objects; protected (data-bearing) ones stay unless ``destroy_data``."""

    def run(stack: Any, settings: PulumiSettings) -> PlatformRecord:
        if destroy_data:
            # Protection is state metadata: lift it in the state alone. (An `up` of the program with
            # protect=False would also create whatever an earlier destroy removed, and apply any change
            # since the last up, just before deleting it all.)
            ws = stack.workspace
            ws.pulumi_command.run(
                ["state", "unprotect", "--all", "--yes", "--stack", stack.name],
                ws.work_dir,
                dict(ws.env_vars),
                on_output,
            )
        result = stack.destroy(color="never", on_output=on_output, exclude_protected=not destroy_data)
        kept: tuple[str, ...] = ()
        if not destroy_data:
            state = stack.export_stack()
            resources = (state.deployment or {}).get("resources", [])
            kept = tuple(sorted(r["urn"].rsplit("::", 1)[-1] for r in resources if r.get("protect")))
        return PlatformRecord(
            "destroy",
            settings.stack,
            settings.backend_url,
            str(result.summary.result),
            _counts(result.summary.resource_changes),
            kept=kept,
        )

    return _run(target, "destroy", install_cli, env, run, protect=not destroy_data)


def target_for(plan: Plan, state: StateDir, *, render_dir: str | None = None) -> Target | None:
    """The engine target of a plan; None when its stack declares no platform.

    The platform plan is the one :func:`~dcinfra.plan.compile_plan` made (``plan.platform``)."""
    from dcinfra.platform.objects import build_objects

    pp = plan.platform
    if pp is None:
        return None
    return Target(pp.stack, build_objects(pp), state, pp.kubeconfig, pp.context, render_dir)
