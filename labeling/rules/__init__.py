"""The shared floor: rules every layer asks and none may copy — who may see a project (`access`), which
cycle week a moment falls in (`calendar`), what an item's gold answer is (`gold`), what text can be stored
(`text`), how personal data is redacted (`redaction`), the one form email addresses are compared in
(`emails`) and when a write repeats one the same person made moments ago (`twins`).

Services, selectors, web views, the API and tasks import from here; this package imports only models,
metrics, exceptions and the standard library (a test over the import graph keeps it so).
"""
