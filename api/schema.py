from labeling.services.records import request_schemas


def add_request_components(result, generator, request, public):
    """Publish the ingest request bodies, generated from the same structs that validate them."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(request_schemas())
    return result
