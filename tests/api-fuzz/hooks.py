"""schemathesis hooks for scripts/api-fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

A multipart form is text on the wire, and has no lists (a list is its field repeated). Some of
the fuzzer's invalid forms are therefore valid requests once sent, which the server rightly
answers and schemathesis (4.32.5) reports as "schema-violating request accepted":
- a number or word turned into a list of none or one element: the field left out, or given once;
- a word turned into a number or boolean: `true` is a word.
Those cases are dropped here. A list of two or more (the field repeated) is still sent, and the
server refuses it with 400; so is a number field given a word or a boolean.
"""

import schemathesis

# Each form's fields that are lists in the document (repeating them is allowed).
LIST_FIELDS = {"/api/items": {"image"}, "/api/search": {"filter"}, "/api/recommend": {"filter"}}
# Each form's free-text fields (any scalar sent there is some text).
TEXT_FIELDS = {"/api/items": {"item_id"}, "/api/search": {"text"}, "/api/recommend": {"text"}}


def wire_identical_to_valid(path, name, value):
    if isinstance(value, list):
        return len(value) <= 1 and name not in LIST_FIELDS.get(path, set())
    return isinstance(value, (bool, int, float)) and name in TEXT_FIELDS.get(path, set())


@schemathesis.hook
def filter_case(ctx, case):
    if not (case.media_type or "").startswith("multipart/form-data"):
        return True
    if not isinstance(case.body, dict):
        return True
    path = case.operation.path
    return not any(wire_identical_to_valid(path, name, value) for name, value in case.body.items())
