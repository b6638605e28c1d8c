"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "airflow-provider-constant-contact"
INTEGRATION = "Constant Contact"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata: connection type, form fields, hooks, operators, sensors, triggers."""
    from cc_provider import __version__

    return {
        "package-name": PACKAGE_NAME,
        "name": "Constant Contact",
        "description": "Bulk contact imports, list management and activity tracking for the "
        "`Constant Contact V3 API <https://developer.constantcontact.com/>`__.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://developer.constantcontact.com/api_guide/index.html",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["cc_provider.hooks.constant_contact"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["cc_provider.operators.lists", "cc_provider.operators.json_import"],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["cc_provider.sensors.activity"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["cc_provider.triggers.activity"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "cc_provider.hooks.constant_contact.ConstantContactHook",
                "hook-name": "Constant Contact",
                "connection-type": "constant_contact",
                "conn-fields": {
                    "refresh_token": {
                        "label": "Refresh token",
                        "description": "OAuth2 refresh token obtained when a person authorized the app "
                        "(with the offline_access scope).",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "api_base_url": {
                        "label": "API base URL",
                        "description": "Base URL of the V3 API. Change it only to use the local sandbox.",
                        "schema": {"type": ["string", "null"], "default": "https://api.cc.email/v3"},
                    },
                    "auth_base_url": {
                        "label": "Auth base URL",
                        "description": "Base URL of the OAuth2 server (the token endpoint is <auth base URL>/token).",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "https://authz.constantcontact.com/oauth2/default/v1",
                        },
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "host", "extra"],
                    "relabeling": {"login": "Client ID (API key)", "password": "Client secret"},
                    "placeholders": {"login": "API key from the Constant Contact developer portal"},
                },
            }
        ],
    }
