"""Microsoft Graph in the emulator: ``base`` (tokens, permissions, errors, paging) and the services built on it.

A service adds its ``graph_route`` list to ``graph_mount`` below and its control routes after it.
"""

from m365_emulator.graph import control, directory, onedrive, onedrive_control, print_control, universal_print
from m365_emulator.graph.base import graph_mount

routes = [
    graph_mount([*directory.routes, *universal_print.routes, *onedrive.routes]),
    *control.routes,
    *print_control.routes,
    *universal_print.download_routes,
    *onedrive.preauthenticated_routes,  # upload and download URLs: not Graph, no bearer token
    *onedrive_control.routes,
]
