# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """The proxy a module works on: nginx (an upstream include of ours, C(nginx -t), reload) or HAProxy (the runtime API)."""

    DOCUMENTATION = r"""
options:
  proxy:
    description: Which proxy fronts the service.
    type: str
    choices: [nginx, haproxy]
    default: nginx
  nginx_include:
    description: With nginx, the managed upstream include file (M(maestro.conductor.proxy_flip) writes it; the nginx configuration includes it).
    type: path
  nginx_upstream:
    description: With nginx, the upstream name the include defines.
    type: str
  nginx_config:
    description: With nginx, the main configuration file, for C(nginx -t) and reload.
    type: path
    default: /etc/nginx/nginx.conf
  nginx_binary:
    description: With nginx, the nginx executable.
    type: str
    default: nginx
  haproxy_socket:
    description: With HAProxy, the runtime API socket (C(stats socket ... level admin)).
    type: path
  haproxy_backend:
    description: With HAProxy, the backend whose servers are named after the colours.
    type: str
"""
