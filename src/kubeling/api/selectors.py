"""Label selectors and field selectors, parsed and matched as Kubernetes does.

Label selectors follow k8s.io/apimachinery/pkg/labels (the `-l` query grammar and
metav1.LabelSelector); field selectors follow k8s.io/apimachinery/pkg/fields plus the
per-kind field label conversions of the API server. Error messages keep Kubernetes'
wording because kubectl prints them verbatim.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeling.api import schema
from kubeling.api.errors import bad_request
from kubeling.api.meta import get_path
from kubeling.api.names import go_quote, is_qualified_name, is_valid_label_value
from kubeling.api.registry import ResourceType

# --- field.Error wording ------------------------------------------------------------


def _invalid(path: str, value: str, detail: str) -> str:
    return f"{path}: Invalid value: {go_quote(value)}: {detail}"


def _aggregate(messages: list[str]) -> str:
    """utilerrors.Aggregate: one message as is, several deduplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --- label selector requirements -----------------------------------------------------

# selection.Operator values, as Kubernetes spells them.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_INT64_RE = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _parse_int64(s: str) -> int | None:
    """strconv.ParseInt(s, 10, 64), or None where Go reports an error."""
    if not _INT64_RE.fullmatch(s):
        return None
    n = int(s)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: `key op values`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op, present = self.operator, self.key in labels
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op == EXISTS:
            return present
        if op == DOES_NOT_EXIST:
            return not present
        if op in (GREATER_THAN, LESS_THAN) and present and len(self.values) == 1:
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


def _requirement_errors(key: str, op: str, values: list[str], key_path: str | None) -> list[str]:
    """labels.NewRequirement's checks, with its field paths (`values[i][key]`)."""
    errs = []
    bad = f"values: Invalid value: {_go_slice(values)}: "
    if key_path is not None and (key_errs := is_qualified_name(key)):
        errs.append(_invalid(key_path, key, "; ".join(key_errs)))
    if op in (IN, NOT_IN) and not values:
        errs.append(bad + "for 'in', 'notin' operators, values set can't be empty")
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        errs.append(bad + "exact-match compatibility requires one single value")
    elif op in (EXISTS, DOES_NOT_EXIST) and values:
        errs.append(bad + "values set must be empty for exists and does not exist")
    elif op in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(bad + "for 'Gt', 'Lt' operators, exactly one value is required")
        errs += [_invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
                 for i, v in enumerate(values) if _parse_int64(v) is None]
    for i, v in enumerate(values):
        if value_errs := is_valid_label_value(v):
            errs.append(_invalid(f"values[{i}][{key}]", v, "; ".join(value_errs)))
    return errs


def _go_slice(values: list[str]) -> str:
    # %#v of a []string, as field.Invalid prints a slice value (empty ones arrive as nil).
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def new_requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """A validated Requirement; raises ApiError 400 with Kubernetes' aggregate message."""
    vals = list(values)
    if errs := _requirement_errors(key, operator, vals, key_path="key"):
        raise bad_request(_aggregate(errs))
    return Requirement(key, operator, tuple(vals))


# --- label selector string grammar ---------------------------------------------------

_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_SYMBOL_TOKENS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")
_KEYWORDS = {IN: "in", NOT_IN: "notin"}
_END, _IDENT, _ERROR = "end", "identifier", "error"


def _scan_symbol(s: str, pos: int) -> tuple[str, str, int]:
    """Longest run of special characters that is still a known operator."""
    best: tuple[str, int] | None = None
    end = pos
    while end < len(s) and s[end] in _SPECIAL:
        end += 1
        if s[pos:end] in _SYMBOL_TOKENS:
            best = (s[pos:end], end)
        elif best is not None:
            break
    if best is None:
        return _ERROR, f"error expected: keyword found '{s[pos:end]}'", end
    return best[0], best[0], best[1]


def _tokens(s: str) -> list[tuple[str, str]]:
    """The lexer: (token kind, literal) pairs ending with the end-of-string token."""
    out, pos = [], 0
    while True:
        while pos < len(s) and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(s):
            out.append((_END, ""))
            return out
        if s[pos] in _SPECIAL:
            kind, lit, pos = _scan_symbol(s, pos)
        else:
            start = pos
            while pos < len(s) and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE:
                pos += 1
            lit = s[start:pos]
            kind = lit if lit in _KEYWORDS else _IDENT
        out.append((kind, lit))


class _SelectorParser:
    """Recursive descent over the token list, mirroring labels.Parser."""

    def __init__(self, s: str):
        self.items = _tokens(s)
        self.pos = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.items[self.pos]
        # `in`/`notin` are plain identifiers wherever a value is expected.
        return (_IDENT if values and kind in _KEYWORDS else kind), lit

    def _next(self, values: bool = True) -> tuple[str, str]:
        tok = self._peek(values)
        self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            kind, lit = self._peek()
            if kind == _END:
                return reqs
            if kind not in (_IDENT, "!"):
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self._requirement())
            except ValueError as e:
                raise ValueError(f"unable to parse requirement: {e}") from None
            kind, lit = self._next()
            if kind == _END:
                return reqs
            if kind != ",":
                raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self._peek()
            if kind not in (_IDENT, "!"):
                raise ValueError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, op = self._key_and_inferred_operator()
        values: list[str] = []
        if op is None:
            op = self._operator()
            values = self._set_values() if op in (IN, NOT_IN) else self._exact_value()
        if errs := _requirement_errors(key, op, values, key_path=None):
            raise ValueError(_aggregate(errs))
        return Requirement(key, op, tuple(values))

    def _key_and_inferred_operator(self) -> tuple[str, str | None]:
        op = None
        kind, lit = self._next()
        if kind == "!":
            op = DOES_NOT_EXIST
            kind, lit = self._next()
        if kind != _IDENT:
            raise ValueError(f"found '{lit}', expected: identifier")
        if key_errs := is_qualified_name(lit):
            # The parser validates keys with a nil field path, which Go prints as <nil>.
            raise ValueError(_invalid("<nil>", lit, "; ".join(key_errs)))
        if self._peek()[0] in (_END, ","):
            op = op or EXISTS
        return lit, op

    def _operator(self) -> str:
        kind, lit = self._next(values=False)
        ops = {"in": IN, "notin": NOT_IN, "=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS,
               ">": GREATER_THAN, "<": LESS_THAN}
        if kind not in ops:
            raise ValueError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return ops[kind]

    def _set_values(self) -> list[str]:
        kind, lit = self._next()
        if kind != "(":
            raise ValueError(f"found '{lit}' expected: '('")
        kind, lit = self._peek()
        if kind == ")":  # "()" means the single empty value
            self._next()
            return [""]
        if kind not in (_IDENT, ","):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        if self._next()[0] != ")":
            raise ValueError(f"found '{lit}', expected: ')'")
        return sorted(values)

    def _identifier_list(self) -> set[str]:
        # Empty entries between commas stand for the empty value, as in "(a,,b)".
        values: set[str] = set()
        while True:
            kind, lit = self._next()
            if kind == _IDENT:
                values.add(lit)
                nxt, nlit = self._peek()
                if nxt == ")":
                    return values
                if nxt != ",":
                    raise ValueError(f"found '{nlit}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.add("")
                nxt = self._peek()[0]
                if nxt in (")", ","):
                    values.add("")
                if nxt == ")":
                    return values
            else:
                raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> list[str]:
        if self._peek()[0] in (_END, ","):
            return [""]
        kind, lit = self._next()
        if kind != _IDENT:
            raise ValueError(f"found '{lit}', expected: identifier")
        return [lit]


# --- LabelSelector -------------------------------------------------------------------

_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


class LabelSelector:
    """A parsed label selector: an AND of requirements, sorted by key like Kubernetes."""

    __slots__ = ("_nothing", "requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False):
        # Stable sort by key only, as labels.Selector.Add/parse order requirements.
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = nothing

    @classmethod
    def parse(cls, selector: str) -> LabelSelector:
        """Parse the `labelSelector` query syntax; ApiError 400 on bad input."""
        try:
            return cls(_SelectorParser(selector).parse())
        except ValueError as e:
            raise bad_request(str(e)) from None

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """metav1.LabelSelector semantics: None matches nothing, {} matches everything."""
        if selector is None:
            return cls.nothing()
        match_labels = selector.get("matchLabels") or {}
        expressions = selector.get("matchExpressions") or []
        reqs = [new_requirement(k, EQUALS, [v]) for k, v in match_labels.items()]
        for expr in expressions:
            op = _EXPRESSION_OPERATORS.get(expr.get("operator"))
            if op is None:
                name = go_quote(str(expr.get("operator") or ""))
                raise bad_request(f"{name} is not a valid label selector operator")
            reqs.append(new_requirement(expr.get("key") or "", op, expr.get("values") or []))
        return cls(reqs)

    @classmethod
    def from_set(cls, labels: Mapping[str, str] | None) -> LabelSelector:
        """Exact match on every pair (labels.SelectorFromSet); empty matches everything."""
        return cls(Requirement(k, EQUALS, (v,)) for k, v in (labels or {}).items())

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every object)."""
        return not self._nothing and not self.requirements

    @property
    def matches_nothing(self) -> bool:
        return self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must have (`=`, `==` or a one-value `in`), if any."""
        for r in self.requirements:
            if r.key == key:
                exact = r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1
                return r.values[0] if exact else None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "LabelSelector(<nothing>)" if self._nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return (self.requirements, self._nothing) == (other.requirements, other._nothing)

    def __hash__(self) -> int:
        return hash((self.requirements, self._nothing))


def parse_label_selector(selector: str | None) -> LabelSelector:
    """The `labelSelector` query parameter; an absent or empty one selects everything."""
    return LabelSelector.parse(selector) if selector else LabelSelector.everything()


# --- field selectors -----------------------------------------------------------------

_UNESCAPE_NEEDED = frozenset("\\,=")


def escape_field_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape `\\`, `,` and `=` in a value."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    if not _UNESCAPE_NEEDED.intersection(value):
        return value
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in _UNESCAPE_NEEDED:
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Go formats the rune with %v, i.e. as its code point.
            raise ValueError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not backslash-escaped (escapes stay in the terms)."""
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(selector):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The leftmost operator splits a term; `!=` and `==` win over `=` at one position."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator == EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


class FieldSelector:
    """A parsed field selector: an AND of `field=value` / `field!=value` terms."""

    __slots__ = ("requirements",)

    def __init__(self, requirements: Iterable[FieldRequirement] = ()):
        self.requirements: tuple[FieldRequirement, ...] = tuple(requirements)

    @classmethod
    def parse(cls, selector: str) -> FieldSelector:
        """Parse the `fieldSelector` query syntax; ApiError 400 on bad input."""
        reqs = []
        # Kubernetes sorts the raw terms before parsing, which fixes String() order too.
        for term in sorted(_split_terms(selector) if selector else []):
            if not term:
                continue
            split = _split_term(term)
            if split is None:
                raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
            lhs, op, rhs = split
            try:
                value = _unescape_field_value(rhs)
            except ValueError as e:
                raise bad_request(str(e)) from None
            reqs.append(FieldRequirement(lhs, NOT_EQUALS if op == "!=" else EQUALS, value))
        return cls(reqs)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    def requirements_for(self, field: str) -> list[FieldRequirement]:
        return [r for r in self.requirements if r.field == field]

    def requires_exact_match(self, field: str) -> str | None:
        """The value `field` must equal, if a `field=value` term exists (index lookups)."""
        for r in self.requirements:
            if r.field == field and r.operator == EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)


def parse_field_selector(selector: str | None) -> FieldSelector:
    """The `fieldSelector` query parameter; an absent or empty one selects everything."""
    return FieldSelector.parse(selector) if selector else FieldSelector()


def requirements_for(fs: FieldSelector, label: str) -> list[FieldRequirement]:
    return fs.requirements_for(label)


# --- field labels per kind -----------------------------------------------------------

# Kinds whose field label conversion func words its refusal differently; the others
# that declare extra field selectors say `field label not supported: <label>`.
_REJECT_FORMATS = {
    ("batch", "Job"): 'field label "{label}" not supported for batchv1.Job',
}
_SUPPORTED_DEFAULT = "field label not supported: {label}"
# runtime.DefaultMetaV1FieldSelectorConversion, used when a kind registers no conversion.
_METADATA_ONLY = '"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'
# Old clients' spellings that the server renames before matching.
_ALIASES = {("", "Pod"): {"spec.host": "spec.nodeName"}}


def supported_field_labels(rt: ResourceType) -> frozenset[str]:
    labels = {"metadata.name", *rt.field_selectors}
    # Kinds with their own conversion func accept metadata.namespace only when namespaced
    # (Node and Namespace refuse it); the generic conversion accepts it everywhere.
    if rt.namespaced or not rt.field_selectors:
        labels.add("metadata.namespace")
    return frozenset(labels)


def _reject_message(rt: ResourceType, label: str) -> str:
    if not rt.field_selectors:
        fmt = _METADATA_ONLY
    else:
        fmt = _REJECT_FORMATS.get((rt.group, rt.kind), _SUPPORTED_DEFAULT)
    return fmt.format(label=label)


def check_field_selector(rt: ResourceType, fs: FieldSelector) -> FieldSelector:
    """Validate field labels for a kind as the API server does, applying renames.

    Raises ApiError 400 (BadRequest) with Kubernetes' wording for unsupported labels.
    """
    supported = supported_field_labels(rt)
    aliases = _ALIASES.get((rt.group, rt.kind), {})
    out = []
    for r in fs.requirements:
        field = aliases.get(r.field, r.field)
        if field not in supported:
            raise bad_request(_reject_message(rt, r.field))
        out.append(FieldRequirement(field, r.operator, r.value))
    return FieldSelector(out)


def field_selector_for(rt: ResourceType, selector: str | None) -> FieldSelector:
    """Parse and check a `fieldSelector` query parameter for one kind."""
    return check_field_selector(rt, parse_field_selector(selector))


@functools.cache
def _field_type(schema_name: str, path: str) -> str:
    """The OpenAPI scalar type at `path`, so absent fields render as Go zero values."""
    try:
        node: dict[str, Any] | None = schema.definition(schema_name)
    except KeyError:
        return "string"
    for part in path.split("."):
        node = schema.property_schema(node, part) if node is not None else None
    types = (node or {}).get("type") or "string"
    types = [types] if isinstance(types, str) else types
    return next((t for t in types if t != "null"), "string")


_ZERO = {"boolean": "false", "integer": "0", "number": "0"}


def _render(value: Any, kind: str) -> str:
    if value is None:
        return _ZERO.get(kind, "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def object_fields(rt: ResourceType, obj: Mapping[str, Any]) -> dict[str, str]:
    """The field set a field selector is matched against for one object."""
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": meta.get("name") or ""}
    if rt.namespaced:
        fields["metadata.namespace"] = meta.get("namespace") or ""
    for label, path in rt.field_selectors.items():
        value = get_path(obj, path)  # type: ignore[arg-type]
        fields[label] = _render(value, _field_type(rt.schema_name, path) if value is None else "")
    return fields


def matches(rt: ResourceType, obj: Mapping[str, Any], labels: LabelSelector | None = None,
            fields: FieldSelector | None = None) -> bool:
    """Whether an object passes both selectors (either may be None for "everything")."""
    if labels is not None and not labels.matches((obj.get("metadata") or {}).get("labels")):
        return False
    return fields is None or fields.empty or fields.matches(object_fields(rt, obj))

