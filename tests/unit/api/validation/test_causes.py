"""field.Error causes: each builder's reason and ErrorBody, and how Go prints the bad value."""

import pytest

from kubeling.api.validation import causes as c


@pytest.mark.parametrize("value,shown", [
    (None, "null"), (True, "true"), (False, "false"), (3, "3"), (1.5, "1.5"), ("a\tb", '"a\\tb"'),
    (["b", "a"], '[]string{"b", "a"}'), ({"b": "2", "a": "1"}, 'map[string]string{"a":"1", "b":"2"}'),
    (c.GoLiteral("core.Taint{...}"), "core.Taint{...}"),
    (c.go_int_or_string("25%"), 'intstr.IntOrString{Type:1, IntVal:0, StrVal:"25%"}'),
    (c.go_int_or_string(3), 'intstr.IntOrString{Type:0, IntVal:3, StrVal:""}'),
    (c.go_label_selector(None),
     "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"),
])
def test_go_value(value, shown):
    assert c.go_value(value) == shown


@pytest.mark.parametrize("cause,reason,message", [
    (c.required("f"), "FieldValueRequired", "Required value"),
    (c.required("f", "why"), "FieldValueRequired", "Required value: why"),
    (c.invalid("f", "x", "bad"), "FieldValueInvalid", 'Invalid value: "x": bad'),
    (c.invalid("f", 1), "FieldValueInvalid", "Invalid value: 1"),
    (c.not_supported("f", "x", ("A", "B")), "FieldValueNotSupported",
     'Unsupported value: "x": supported values: "A", "B"'),
    (c.duplicate("f", "x"), "FieldValueDuplicate", 'Duplicate value: "x"'),
    (c.not_found("f", "x"), "FieldValueNotFound", 'Not found: "x"'),
    (c.forbidden("f", "no"), "FieldValueForbidden", "Forbidden: no"),
    (c.too_long("f", 10), "FieldValueTooLong", "Too long: must have at most 10 bytes"),
    (c.too_many("f", 3, 2), "FieldValueTooMany", "Too many: 3: must have at most 2 items"),
])
def test_cause_builders(cause, reason, message):
    assert cause == {"field": "f", "reason": reason, "message": message}


def test_each_invalid_gives_one_cause_per_message():
    assert c.each_invalid("f", "v", ["one", "two"]) == [c.invalid("f", "v", "one"), c.invalid("f", "v", "two")]
    assert c.each_invalid("f", "v", []) == []
