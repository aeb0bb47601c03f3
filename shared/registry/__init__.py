"""The KIE model catalogue (registry/catalogue.json) as typed, validated, priced requests.

Public API (everything else is internal):
    get_model, enabled_models, categories, models_in_category
    validate_inputs, quote, quote_credits, usage_credits, kopecks_for, build_request,
    load_registry
    KieRequest, KieEndpoint, ModelEntry, Category, PricingSettings, Registry
    RegistryError, RegistryDataError, UnknownModelError, ModelDisabledError,
    InputValidationError, InputIssue, NotPriceableError
"""

from shared.registry.api import (
    build_request,
    categories,
    enabled_models,
    endpoint_for,
    get_model,
    models_in_category,
    quote,
    quote_credits,
    usage_credits,
    validate_inputs,
)
from shared.registry.errors import (
    InputIssue,
    InputValidationError,
    ModelDisabledError,
    NotPriceableError,
    RegistryDataError,
    RegistryError,
    UnknownModelError,
)
from shared.registry.kie_request import KieEndpoint, KieRequest
from shared.registry.loader import Registry, load_registry
from shared.registry.pricing import PricingSettings, kopecks_for
from shared.registry.schema import Category, ModelEntry

__all__ = [
    "Category",
    "InputIssue",
    "InputValidationError",
    "KieEndpoint",
    "KieRequest",
    "ModelDisabledError",
    "ModelEntry",
    "NotPriceableError",
    "PricingSettings",
    "Registry",
    "RegistryDataError",
    "RegistryError",
    "UnknownModelError",
    "build_request",
    "categories",
    "enabled_models",
    "endpoint_for",
    "get_model",
    "kopecks_for",
    "load_registry",
    "models_in_category",
    "quote",
    "quote_credits",
    "usage_credits",
    "validate_inputs",
]
