"""Name and key syntaxes (k8s.io/apimachinery/pkg/util/validation), with Kubernetes' exact wording."""

import pytest
from tests.unit.api.k8s_messages import DNS1035_MSG, LABEL_MSG, LABEL_VALUE_MSG, QNAME_MSG, SUBDOMAIN_MSG

from kubeling.api import names


@pytest.mark.parametrize("fn,value,expected", [
    (names.dns1123_subdomain, "example.com", []),
    (names.dns1123_subdomain, "Web", [SUBDOMAIN_MSG]),
    (names.dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
    (names.dns1123_label, "my-name", []),
    (names.dns1123_label, "a.b", ["must not contain dots"]),
    (names.dns1123_label, "-a", [LABEL_MSG]),
    (names.dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
    (names.dns1035_label, "1abc", [DNS1035_MSG]),
    (names.is_qualified_name, "app", []),
    (names.is_qualified_name, "example.com/App_1", []),
    (names.is_qualified_name, "/a", ["prefix part must be non-empty"]),
    (names.is_qualified_name, "Example.com/a", ["prefix part " + SUBDOMAIN_MSG]),
    (names.is_qualified_name, "a/", ["name part must be non-empty", QNAME_MSG]),
    (names.is_qualified_name, "-a", [QNAME_MSG]),
    (names.is_qualified_name, "x" * 64, ["name part must be no more than 63 characters"]),
    (names.is_qualified_name, "a/b/c", [
        ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
        "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
        "(e.g. 'example.com/MyName')")]),
    (names.is_valid_label_value, "", []),
    (names.is_valid_label_value, "v1.2_x", []),
    (names.is_valid_label_value, "bad value", [LABEL_VALUE_MSG]),
    (names.is_valid_label_value, "v" * 64, ["must be no more than 63 characters"]),
    (names.is_valid_path_segment_name, "..", ["may not be '..'"]),
    (names.is_valid_path_segment_name, "a/b%", ["may not contain '/'", "may not contain '%'"]),
])
def test_syntax_helpers(fn, value, expected):
    assert fn(value) == expected


# Label keys are qualified names (these cases came with the label selector parser).
@pytest.mark.parametrize(("key", "errors"), [
    ("app", []),
    ("example.com/app", []),
    ("a" * 63, []),
    ("a" * 64, ["name part must be no more than 63 characters"]),
    ("Example.com/app", [("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                         "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                         "'example.com', regex used for validation is "
                         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]),
    ("", ["name part must be non-empty", QNAME_MSG]),
])
def test_label_key_errors(key, errors):
    assert names.is_qualified_name(key) == errors


@pytest.mark.parametrize(("value", "ok"), [("", True), ("a", True), ("a.b-c_d", True), ("-a", False), ("a b", False),
                                           ("v" * 63, True), ("v" * 64, False)])
def test_label_value_errors(value, ok):
    assert (names.is_valid_label_value(value) == []) is ok


CONFIG_KEY_REGEX_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
                        "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


@pytest.mark.parametrize("fn,value,expected", [
    (names.config_key, "app.conf", []),
    (names.config_key, "a b", [CONFIG_KEY_REGEX_MSG]),
    (names.config_key, "..", ["must not be '..'"]),
    (names.config_key, "..data", ["must not start with '..'"]),
    (names.config_key, "k" * 254, ["must be no more than 253 characters"]),
    (names.port_name, "http", []),
    (names.port_name, "web-metrics-port", ["must be no more than 15 characters"]),
    (names.port_name, "8080", ["must contain at least one letter (a-z)"]),
    (names.port_name, "a--b", ["must not contain consecutive hyphens"]),
    (names.port_name, "HTTP", ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                               "must contain at least one letter (a-z)"]),
    (names.port_number, 65535, []),
    (names.port_number, 0, ["must be between 1 and 65535, inclusive"]),
    (names.port_number, True, ["must be between 1 and 65535, inclusive"]),
    (names.env_var_name, "MY_VAR.1", []),
    (names.env_var_name, "", ["environment variable name must be non-empty"]),
    (names.env_var_name, "A=B", ["a valid environment variable name must consist only of printable ASCII "
                                 "characters other than '='"]),
])
def test_key_and_port_syntax(fn, value, expected):
    assert fn(value) == expected


@pytest.mark.parametrize("text,quoted", [
    ("plain", '"plain"'), ('q"b\\', '"q\\"b\\\\"'), ("tab\there\n", '"tab\\there\\n"'),
    ("\x01", '"\\x01"'), ("héllo", '"héllo"'),
    # Go escapes non-printable runes above ASCII as \u, not \x (strconv.Quote).
    ("\x85", '"\\u0085"'), ("\U000e0001", '"\\U000e0001"'),
])
def test_go_quote(text, quoted):
    assert names.go_quote(text) == quoted
