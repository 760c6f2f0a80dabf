"""Strict value types: every string of the model that reaches a host, a rendered file, the inventory or a
command line has one.

A stack's strings end up in ``/etc/nccl.conf``, ``hdfs-site.xml``, ``slurm.conf``, nftables rulesets,
Ansible variables and ``ceph-volume`` arguments. A newline there adds a line, a comma adds a list entry,
``..`` walks out of a directory and ``{{ ... }}`` is a template. So each such field is one of the types
below: a full match of an ASCII-only regular expression (``[0-9]``, never ``\\d``, which matches every
Unicode digit in Python's and in pydantic-core's regex engines alike, so ``'٥٥٠'`` would pass as a driver
branch), plus the structural checks a regular expression cannot say (a path has no ``.``/``..``
component). None of these types admits whitespace, quotes, ``$``, ``{``, ``}``, ``%`` or ``,``.

A value that does not fit raises a pydantic error of type ``dcinfra_format`` whose context carries
what is wrong (``reason``), what is allowed (``allowed``) and an ``example``; the loader turns it into a
:class:`~dcinfra.errors.Problem` with the stack's field path and a ``fix:`` line.

Numbers and booleans are strict model-wide (``True`` is no count, ``"32"`` is no integer): see
:class:`dcinfra.model.base.Spec`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, Strict
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

FORMAT_ERROR = "dcinfra_format"  # the pydantic error type every type below raises

_SHOWN = 80  # characters of a rejected value a message quotes


def shown(value: object) -> str:
    """``repr(value)``, shortened for messages when it is long (a 100,000-character value is one line)."""
    text = repr(value)
    if len(text) <= _SHOWN:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[: _SHOWN - 20]}...{text[-8:]}{size}"


class Format:
    """Pydantic metadata: the string must fully match ``regex`` (ASCII) and pass ``check``.

    ``what`` names the kind of value (``"a POSIX user name"``), ``allowed`` says in words what fits and
    ``example`` is a value that does; all three end up in the problem a bad value is reported with.
    """

    __slots__ = ("_compiled", "allowed", "check", "example", "regex", "what")

    def __init__(
        self,
        what: str,
        regex: str,
        allowed: str,
        example: str,
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        self.what = what
        self.regex = regex
        self.allowed = allowed
        self.example = example
        self.check = check
        self._compiled = re.compile(regex, re.ASCII)
        assert self._compiled.fullmatch(example), f"{what}: the example {example!r} does not fit"

    def __repr__(self) -> str:  # shown in help()'s signature line
        return f"Format({self.what!r})"

    def problem(self, value: str) -> str | None:
        """Why ``value`` does not fit, or None when it does."""
        matched = self._compiled.fullmatch(value) is not None
        why = self.check(value) if self.check else None
        if matched and why is None:
            return None
        why = offence(value) or why
        lower = value.lower()
        if (
            not why
            and lower != value
            and self._compiled.fullmatch(lower)
            and (self.check is None or self.check(lower) is None)
        ):
            why = f"it is lower case: did you mean {lower!r}?"
        return f"{shown(value)} is not {self.what}" + (f": {why}" if why else "")

    def validate(self, value: str) -> str:
        """Pydantic's after-validator: ``value`` unchanged, or a ``dcinfra_format`` error."""
        reason = self.problem(value)
        if reason is not None:
            raise PydanticCustomError(
                FORMAT_ERROR,
                "{reason}",
                {"reason": reason, "allowed": self.allowed, "example": self.example},
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = handler(schema)
        js.update(pattern=f"^(?:{self.regex})$", examples=[self.example])
        return js


def format_of(metadata: object) -> Format | None:
    """The :class:`Format` among a field's or an ``Annotated`` type's metadata, if any."""
    if isinstance(metadata, Format):
        return metadata
    if isinstance(metadata, list | tuple):
        return next((m for m in metadata if isinstance(m, Format)), None)
    return None


def described(fmt: Format) -> str:
    """What a strict type allows, in words, with an example: the text help, ``dcinfra explain`` and a
    rejected value's ``fix:`` line show (never the regular expression)."""
    return f"{fmt.what}: {fmt.allowed}; e.g. {fmt.example!r}"


# --- structural checks -------------------------------------------------------------------------------

_NAMED = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space", "\0": "a NUL byte"}


def offence(value: str) -> str | None:
    """The most telling reason a value cannot be safe anywhere (template syntax, a line break, a
    non-ASCII character, a separator), or None."""
    for marker in ("{{", "{%", "{#", "${", "$("):
        if marker in value:
            return f"it contains {marker!r} (template or shell syntax is never allowed in a value)"
    for ch in value:
        if ch in _NAMED:
            return f"it contains {_NAMED[ch]}"
        if not ch.isascii():
            return f"it contains the non-ASCII character {ch!r} (U+{ord(ch):04X})"
        if not ch.isprintable():
            return f"it contains the control character U+{ord(ch):04X}"
    for ch in ",;'\"`$%{}":
        if ch in value:
            return f"it contains {ch!r}"
    return None


def _normalized(value: str) -> str | None:
    if not value.startswith("/"):
        return "it is not absolute (it must start with '/')"
    parts = value.split("/")[1:]
    if value != "/" and any(p in ("", ".", "..") for p in parts):
        return "a path may not contain '..', '.' or '//' components, nor end with '/'"
    if len(value) > 1024:
        return f"it is {len(value)} characters long (at most 1024)"
    return None


def _device(value: str) -> str | None:
    if not value.startswith("/dev/"):
        return "it is not under /dev/"
    return _normalized(value)


def _hostname(value: str) -> str | None:
    if len(value) > 253:
        return f"it is {len(value)} characters long (at most 253)"
    return None


# --- the types -----------------------------------------------------------------------------------------

# Path components: letters, digits and . _ - + @ = (no spaces, commas, quotes, $, %, braces, ':').
_PART = r"[A-Za-z0-9._+@=-]{1,255}"

AbsPath = Annotated[
    str,
    Strict(),
    Format(
        "an absolute, normalized path",
        rf"/|(?:/{_PART})+",
        "an absolute, normalized path: components of letters, digits and . _ - + @ =, no '..', '.', "
        "'//' or trailing '/', no spaces, commas, quotes, '$', '%', ':' or braces",
        "/mnt/datasets",
        _normalized,
    ),
]
"""An absolute, normalized path on a host (mount points, HDFS dirs, keytab dir, scripts)."""

DevicePath = Annotated[
    str,
    Strict(),
    Format(
        "a block device path under /dev",
        r"(?:/dev)(?:/[A-Za-z0-9._+@=:-]{1,255})+",
        "a normalized path under /dev/ (a by-id or by-path name is best): letters, digits and "
        ". _ - + @ = :, no '..' or '.' components",
        "/dev/nvme1n1",
        _device,
    ),
]
"""A block device on a host (``/dev/nvme1n1``, ``/dev/disk/by-path/pci-0000:3b:00.0-nvme-1``)."""

ControllerPath = Annotated[
    str,
    Strict(),
    Format(
        "a file path on the controller",
        r"[A-Za-z0-9._/~][A-Za-z0-9._/~+@=:-]{0,1023}",
        "a path of letters, digits and . _ / ~ + @ = : - (absolute, relative or '~/...'), not starting "
        "with '-', no spaces, quotes, '$', '%' or braces",
        "~/.kube/config",
    ),
]
"""A file on the machine dcinfra runs on (a kubeconfig, an SSH private key): never sent to hosts."""

UserName = Annotated[
    str,
    Strict(),
    Format(
        "a POSIX user name",
        r"[a-z_][a-z0-9_-]{0,31}",
        "a portable user name: lower-case letters, digits, '_' and '-', starting with a letter or '_', "
        "at most 32 characters",
        "ops",
    ),
]
"""A login name (POSIX portable: ``^[a-z_][a-z0-9_-]{0,31}$``)."""

_LABEL_1123 = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

HostName = Annotated[
    str,
    Strict(),
    Format(
        "a host name",
        rf"{_LABEL_1123}(?:\.{_LABEL_1123})*",
        "an RFC 1123 host name or FQDN: dot-separated labels of ASCII letters, digits and '-' (not at "
        "either end of a label), at most 63 characters each and 253 in all",
        "kdc.dc.example.com",
        _hostname,
    ),
]
"""A DNS host name or FQDN (RFC 1123), e.g. a KDC."""

HostLabel = Annotated[
    str,
    Strict(),
    Format(
        "a planned host name",
        r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
        "a host name the stack plans (one RFC 1123 label): lower-case letters, digits and '-', not at "
        "either end, at most 63 characters",
        "gpu-001",
    ),
]
"""One of the stack's host names (``<pool>-<nnn>``): a lower-case RFC 1123 label."""

NAME = r"[a-z][a-z0-9-]{0,30}[a-z0-9]"

Name = Annotated[
    str,
    Strict(),
    Format(
        "a valid name",
        NAME,
        "2-32 lower-case letters, digits and '-', starting with a letter and not ending with '-'",
        "gpu-a",
    ),
]
"""A pool, rack or host-name prefix (also part of host names, inventory groups and CRUSH buckets)."""

Label = Annotated[
    str,
    Strict(),
    Format(
        "a valid name",
        r"[a-z][a-z0-9-]{0,62}",
        "1-63 lower-case letters, digits and '-', starting with a letter",
        "team-a",
    ),
]
"""A zone, rule, tenant or cluster name, or a reference to one (``any`` in a rule)."""

DnsLabel = Annotated[
    str,
    Strict(),
    Format(
        "a DNS-1123 label",
        r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?",
        "a Kubernetes name (DNS-1123 label): 1-63 lower-case letters, digits and '-', not at either end",
        "training",
    ),
]
"""A Kubernetes namespace or queue name."""

CephName = Annotated[
    str,
    Strict(),
    Format(
        "a valid Ceph name",
        r"[a-z][a-z0-9_.-]{0,62}",
        "1-63 lower-case letters, digits, '_', '.' and '-', starting with a letter",
        "rbd",
    ),
]
"""A RADOS pool or CephFS name."""

CatalogKey = Annotated[
    str,
    Strict(),
    Format(
        "a catalog name",
        r"[a-z0-9][a-z0-9._-]{0,63}",
        "a name from the catalog (`dcinfra catalog` lists them): lower-case letters, digits, '.', '_' "
        "and '-'",
        "dgx-h100",
    ),
]
"""A catalog entry: node profile, GPU, NIC or switch model."""

InterfaceName = Annotated[
    str,
    Strict(),
    Format(
        "a Linux interface name",
        r"[A-Za-z0-9_.-]{1,15}",
        "1-15 ASCII letters, digits, '_', '.' and '-' (Linux's IFNAMSIZ), not '.' or '..'",
        "mgmt0",
        lambda v: "'.' and '..' name directories, not interfaces" if v in (".", "..") else None,
    ),
]
"""A network interface on a host."""

InterfacePrefix = Annotated[
    str,
    Strict(),
    Format(
        "an interface name prefix",
        r"[A-Za-z][A-Za-z0-9_]{0,10}",
        "1-11 ASCII letters, digits and '_', starting with a letter (the rail number is appended and the "
        "whole name must fit Linux's 15 characters)",
        "ib",
    ),
]
"""The rail interface prefix (``ib`` gives ``ib0`` ... ``ib7``)."""

HcaName = Annotated[
    str,
    Strict(),
    Format(
        "an RDMA device name",
        r"[a-z][a-z0-9_]{0,31}",
        "an RDMA device name as `ibv_devices` lists it: lower-case letters, digits and '_', starting with "
        "a letter, at most 32 characters",
        "mlx5_0",
    ),
]
"""An RDMA device (HCA) name, e.g. ``mlx5_0`` (``NCCL_IB_HCA``)."""

KerberosRealm = Annotated[
    str,
    Strict(),
    Format(
        "a Kerberos realm",
        r"[A-Z0-9](?:[A-Z0-9.-]{0,253}[A-Z0-9])?",
        "an upper-case realm: ASCII letters, digits, '.' and '-', at most 255 characters",
        "DC.EXAMPLE.COM",
    ),
]
"""A Kerberos realm (upper case by convention and here by rule)."""

ArtifactSource = Annotated[
    str,
    Strict(),
    Format(
        "an http(s) URL or an absolute path",
        rf"https?://{_LABEL_1123}(?:\.{_LABEL_1123})*(?::[0-9]{{1,5}})?(?:/[A-Za-z0-9._~+@=-]*)*"
        rf"(?:\?[A-Za-z0-9._~+@=&/-]*)?|(?:/{_PART})+",
        "an http(s):// URL (host, optional port, a path of letters, digits and . _ ~ + @ = -, optional "
        "query) or an absolute, normalized path on the controller; no spaces, quotes, '$', '%' or braces",
        "https://downloads.apache.org/hadoop/common/hadoop-3.3.6/hadoop-3.3.6.tar.gz",
        lambda v: None if v.startswith(("http://", "https://")) else _normalized(v),
    ),
]
"""Where a release comes from: a URL fetched on each host, or a file on the controller copied there."""

ImageRef = Annotated[
    str,
    Strict(),
    Format(
        "a container image reference",
        r"[a-z0-9][A-Za-z0-9._/:@-]{0,254}",
        "a container image reference (registry/repository:tag or repository@sha256:digest): letters, "
        "digits and . _ / : @ -",
        "nvcr.io/nvidia/pytorch:25.01-py3",
    ),
]
"""An OCI image reference."""

KubeContext = Annotated[
    str,
    Strict(),
    Format(
        "a kubeconfig context name",
        r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,252}",
        "a context name of letters, digits and . _ : @ / + = -",
        "h100-admin",
    ),
]
"""A kubeconfig context."""

# --- versions: ASCII digits only ----------------------------------------------------------------------

_N = r"[0-9]{1,4}"  # one number of a version: ASCII digits only

DriverBranch = Annotated[
    str,
    Strict(),
    Format("a driver branch", r"[0-9]{3}", "three ASCII digits", "550"),
]
"""An NVIDIA driver branch (``550``)."""

MinorVersion = Annotated[
    str,
    Strict(),
    Format("a major.minor version", rf"{_N}\.{_N}", "major.minor in ASCII digits", "12.4"),
]
"""``major.minor`` (CUDA, Kubernetes)."""

PatchVersion = Annotated[
    str,
    Strict(),
    Format(
        "a major.minor.patch version", rf"{_N}\.{_N}\.{_N}", "major.minor.patch in ASCII digits", "2.21.5"
    ),
]
"""``major.minor.patch`` (NCCL, Hadoop, Helm charts without a ``v``)."""

VPatchVersion = Annotated[
    str,
    Strict(),
    Format("a vX.Y.Z version", rf"v{_N}\.{_N}\.{_N}", "'v' and major.minor.patch in ASCII digits", "v1.17.5"),
]
"""``vX.Y.Z`` (Helm charts tagged with a ``v``)."""

ImageTagVersion = Annotated[
    str,
    Strict(),
    Format(
        "a vX.Y.Z image tag",
        rf"v{_N}\.{_N}\.{_N}(?:-[a-z0-9.]{{1,32}})?",
        "'v', major.minor.patch in ASCII digits and an optional '-suffix' of lower-case letters, digits "
        "and '.'",
        "v1.18.1",
    ),
]
"""An image tag such as ``v1.18.1`` or ``v1.18.1-ubi8``."""

TorchVersion = Annotated[
    str,
    Strict(),
    Format(
        "a torch release",
        rf"{_N}\.{_N}(?:\.{_N})?(?:\+[a-z0-9.]{{1,32}})?",
        "major.minor[.patch] in ASCII digits with an optional '+local' tag (lower-case letters, digits "
        "and '.')",
        "2.13.0",
    ),
]
"""A torch release (``2.13.0``, ``2.5.1+cu124``)."""

CephRelease = Annotated[
    str,
    Strict(),
    Format("a Ceph release code name", r"[a-z]{3,16}", "a lower-case code name", "pacific"),
]
"""A Ceph release code name (``pacific``, ``quincy``, ``reef``, ``squid``)."""

SlurmSeries = Annotated[
    str,
    Strict(),
    Format("a Slurm release series", r"[0-9]{2}\.[0-9]{2}", "YY.MM in ASCII digits", "22.05"),
]
"""A Slurm release series (``22.05``)."""

Sha512 = Annotated[
    str,
    Strict(),
    Format("a SHA-512 digest", r"[0-9a-fA-F]{128}", "128 hexadecimal digits", "ab" * 64),
]
"""A SHA-512 digest in hex."""

StackName = Annotated[
    str,
    Strict(),
    Format(
        "a valid stack name",
        r"[a-z][a-z0-9-]{0,40}",
        "1-41 lower-case letters, digits and '-', starting with a letter",
        "lab",
    ),
]
"""A stack name (names the state dir, the Pulumi stack and the Ceph fsid seed)."""

BridgePrefix = Annotated[
    str,
    Strict(),
    Format(
        "a bridge name prefix",
        r"[a-z][a-z0-9]{0,5}",
        "1-6 lower-case letters and digits, starting with a letter (bridge and veth names must fit "
        "Linux's 15 characters)",
        "dci",
    ),
]
"""The lab's host-side bridge/veth name prefix."""

SlurmTimeLimit = Annotated[
    str,
    Strict(),
    Format(
        "a Slurm time limit",
        r"UNLIMITED|INFINITE|[0-9]{1,6}|(?:[0-9]{1,3}-)?[0-9]{1,2}:[0-9]{2}:[0-9]{2}",
        "'UNLIMITED', minutes ('90') or [days-]hours:minutes:seconds ('12:00:00', '2-00:00:00'), in ASCII "
        "digits",
        "2-00:00:00",
    ),
]
"""A Slurm time limit (``MaxTime``): ``UNLIMITED``, minutes, or ``[days-]hh:mm:ss``."""

SlurmClusterName = Annotated[
    str,
    Strict(),
    Format(
        "a Slurm cluster name",
        r"[a-z][a-z0-9_]{0,39}",
        "1-40 lower-case letters, digits and '_', starting with a letter (Slurm names its accounting "
        "tables after it)",
        "h100_su",
    ),
]
"""A Slurm ``ClusterName``."""

# --- the GPU driver stack (issue 12) ------------------------------------------------------------------

DriverVersion = Annotated[
    str,
    Strict(),
    Format(
        "an NVIDIA driver version",
        r"[0-9]{3}\.[0-9]{1,3}(?:\.[0-9]{1,3})?",
        "branch.minor[.patch] in ASCII digits, as NVIDIA publishes it",
        "580.95.05",
    ),
]
"""An exact NVIDIA driver version (``580.95.05``): the branch is its first number."""

TorchCudaVariant = Annotated[
    str,
    Strict(),
    Format(
        "a torch CUDA build",
        r"cu[0-9]{3}|cpu",
        "'cu' and the CUDA major.minor without the dot ('cu126', 'cu130'), or 'cpu'",
        "cu130",
    ),
]
"""A PyTorch wheel variant: the local tag and index name (``cu130`` -> download.pytorch.org/whl/cu130)."""
