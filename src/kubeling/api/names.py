"""Name and key syntaxes of k8s.io/apimachinery/pkg/util/validation, with Kubernetes' wording.

Each check returns the list of Kubernetes' error strings for a value, empty when the
value is fine; callers wrap them in field errors.  This is a leaf module (it imports
nothing from kubeling) so that selectors.py and the validation package can share it
without an import cycle; for the same reason Go's %q quoting lives here too.
"""

from __future__ import annotations

import re
from typing import Any

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
CONFIG_KEY_MAX = 253
PORT_NAME_MAX = 15


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, including its `', ' + ' or '` double space."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """Go's %q (strconv.Quote), which Kubernetes uses to show a bad value in a message."""
    out = ['"']
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- DNS names

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)

# The regex messages never change, so they are rendered once.
_DNS1123_LABEL_ERR = regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character", _DNS1123_LABEL_FMT, "my-name", "123-abc")
_DNS1123_SUBDOMAIN_ERR = regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character", _DNS1123_SUBDOMAIN_FMT, "example.com")
_DNS1035_LABEL_ERR = regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character",
    _DNS1035_LABEL_FMT, "my-name", "abc-123")


def _length_and_pattern(value: str, max_len: int, pattern: re.Pattern[str], message: str) -> list[str]:
    """The usual pair of checks: at most `max_len` characters, and the whole value matches."""
    errs = [max_len_error(max_len)] if len(value) > max_len else []
    if not pattern.fullmatch(value):
        errs.append(message)
    return errs


def dns1123_label(value: str) -> list[str]:
    errs = [max_len_error(DNS1123_LABEL_MAX)] if len(value) > DNS1123_LABEL_MAX else []
    if not _DNS1123_LABEL_RE.fullmatch(value):
        # A valid subdomain is wrong only because of its dots, and Kubernetes says just that.
        errs.append("must not contain dots" if _DNS1123_SUBDOMAIN_RE.fullmatch(value) else _DNS1123_LABEL_ERR)
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    return _length_and_pattern(value, DNS1123_SUBDOMAIN_MAX, _DNS1123_SUBDOMAIN_RE, _DNS1123_SUBDOMAIN_ERR)


def dns1035_label(value: str) -> list[str]:
    return _length_and_pattern(value, DNS1035_LABEL_MAX, _DNS1035_LABEL_RE, _DNS1035_LABEL_ERR)


# ---------------------------------------------------------------- qualified names and label values

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_QNAME_ERR = regex_error("must consist of alphanumeric characters, '-', '_' or '.', "
                         "and must start and end with an alphanumeric character",
                         _QNAME_FMT, "MyName", "my.name", "123-abc")
_LABEL_VALUE_ERR = regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character",
    _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")


def is_qualified_name(value: str) -> list[str]:
    """`[prefix/]name`: label keys, annotation keys, finalizers."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _QNAME_ERR
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in dns1123_subdomain(prefix)]
    name = parts[-1]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _QNAME_ERR)
    return errs


def is_valid_label_value(value: str) -> list[str]:
    return _length_and_pattern(value, LABEL_VALUE_MAX, _LABEL_VALUE_RE, _LABEL_VALUE_ERR)


def is_valid_path_segment_name(value: str) -> list[str]:
    """path.IsValidPathSegmentName: the rule for RBAC object names."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


# ---------------------------------------------------------------- keys, ports, environment

_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY_FMT)
_CONFIG_KEY_ERR = regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                              _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name")


def config_key(value: str) -> list[str]:
    """IsConfigMapKey: ConfigMap and Secret data keys, env key references."""
    errs = _length_and_pattern(value, CONFIG_KEY_MAX, _CONFIG_KEY_RE, _CONFIG_KEY_ERR)
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def port_name(value: str) -> list[str]:
    """IsValidPortName: an IANA_SVC_NAME."""
    errs = [max_len_error(PORT_NAME_MAX)] if len(value) > PORT_NAME_MAX else []
    if not re.fullmatch("[-a-z0-9]+", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_number(value: Any) -> list[str]:
    """IsValidPortNum; anything but an int (bools included) is out of range."""
    in_range = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
    return [] if in_range else ["must be between 1 and 65535, inclusive"]


def env_var_name(value: str) -> list[str]:
    """IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation is on by default in 1.32)."""
    if not value:
        return ["environment variable name must be non-empty"]
    if any(ord(ch) > 127 or not ch.isprintable() or ch == "=" for ch in value):
        return [("a valid environment variable name must consist only of printable ASCII characters "
                 "other than '='")]
    return []
