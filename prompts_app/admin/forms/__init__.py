"""Admin forms, one module per domain, on the shared fields of `admin.base`.

They parse what a person typed (JSON, comma-separated tags, template text)
into the shapes the services take; the services validate, and their errors
come back onto the form through `admin.base.add_service_error`.
"""
