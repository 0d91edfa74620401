"""Typed models of DumGum's enqueue request, webhook events and customer-endpoint payloads."""
