"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
PACKAGE_NAME = "airflow-provider-constant-contact"
INTEGRATION = "Constant Contact"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata: connection type, form fields, hooks, operators, sensors, triggers."""
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
                "python-modules": [
                    "cc_provider.operators.lists",
                    "cc_provider.operators.csv_import",
                    "cc_provider.operators.json_import",
                    "cc_provider.operators.membership",
                    "cc_provider.operators.upsert",
                    "cc_provider.operators.exports",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "Common SQL",
                "target-integration-name": INTEGRATION,
                "python-module": "cc_provider.transfers.sql_to_constant_contact",
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
        "extra-links": ["cc_provider.links.ConstantContactListLink"],
        "config": {
            "constant_contact": {
                "description": "Settings of the Constant Contact provider.",
                "options": {
                    "staging_url": {
                        "description": "Where the example DAGs stage files between tasks (cc_provider.staging): "
                        "a local folder, or a URL that every worker reaches, e.g. s3://aws_default@bucket/staging "
                        "(the connection id before @ is optional; any scheme of an installed provider works). "
                        "{AIRFLOW_HOME} is replaced by $AIRFLOW_HOME.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://aws_default@my-bucket/constant-contact/staging",
                        "default": "{AIRFLOW_HOME}/staging",
                    },
                },
            },
        },
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
                    "refresh_mode": {
                        "label": "Refresh token type",
                        "description": "As set for the app in the Constant Contact developer portal. 'long_lived': "
                        "the same refresh token is reused and nothing is written. 'rotating': every refresh returns "
                        "a new, single-use token, kept in the token store and refreshed under its lock.",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["long_lived", "rotating"],
                            "default": "long_lived",
                        },
                    },
                    "credential_store": {
                        "label": "Token store",
                        "description": "Where the current tokens are shared by every worker and the triggerer: "
                        "'variable' (Airflow Variable constant_contact_token__<conn id>), 'file:/path/on/shared/disk', "
                        "'sql:<database conn id>' (a table in a PostgreSQL or SQLite database, locked by the "
                        "database: safe across hosts) or the dotted path of a TokenStore subclass. The connection's "
                        "refresh token seeds it.",
                        "schema": {"type": ["string", "null"], "default": "variable"},
                    },
                    "requests_per_second": {
                        "label": "API requests per second",
                        "description": "Client-side pacing of API calls per process and API key: 4 for a standard "
                        "key, 10 for a partner key; 0 turns pacing off (a sandbox without limits).",
                        "schema": {"type": ["number", "null"], "default": 4, "minimum": 0},
                    },
                    "rate_limiter": {
                        "label": "Rate limiter",
                        "description": "'process' (each process paces itself at the rate above) or "
                        "'sql:<database conn id>' (one request budget per API key, kept in a PostgreSQL or SQLite "
                        "table and shared by every worker).",
                        "schema": {"type": ["string", "null"], "default": "process"},
                    },
                    "timeout": {
                        "label": "HTTP timeout (seconds)",
                        "description": "How long to wait for one answer of the API; a bulk import that gets none "
                        "is posted again (an import upserts by email, so a duplicate changes nothing).",
                        "schema": {"type": ["number", "null"], "default": 60, "minimum": 1},
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
