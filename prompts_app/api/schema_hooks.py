"""OpenAPI post-processing: every operation documents the error responses the
one exception handler can give, with their common shape."""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": True},
                "details": {"type": "object"},
            },
        }
    },
}
ERRORS = {
    "400": "The input is invalid: `error.field` names what to fix.",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The key lacks the scope this endpoint needs.",
    "404": "No such prompt, version, label or record in this project.",
    "409": "Conflicts with what is stored (a name taken, a protected label).",
    "429": "Too many failed authentications from this address.",
    "503": "The database is briefly unavailable; nothing was stored, retry.",
}


def add_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result
