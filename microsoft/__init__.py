"""The only code that talks to Microsoft: identity (MSAL), Graph, mail protocols, errors.

Import the submodules you need (`microsoft.identity`, `microsoft.errors`, `microsoft.config`);
this package itself exports nothing so importing it stays cheap.
"""

import logging

__all__: list[str] = []

logger = logging.getLogger(__name__)
