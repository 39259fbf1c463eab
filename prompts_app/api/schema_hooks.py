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
    "413": "The request body is over the size limit (2.5 MB unless configured): nothing was "
    "stored; `error.details.limit_bytes` gives the limit.",
    "429": "Too many failed authentications from this address.",
    "503": "The database is briefly unavailable; nothing was stored, retry.",
}

BODY_ERROR_415 = "The body was not sent as `Content-Type: application/json`."


def add_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            errors = dict(ERRORS)
            if "requestBody" in operation:
                errors["415"] = BODY_ERROR_415
            for status, description in sorted(errors.items()):
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
