"""``switchboard route``'s arguments; the work is ``router.cli.route_offline``'s.

``switchboard route "prompt"`` prints one decision; ``switchboard route - --json``
reads one OpenAI chat request (JSON) per line on stdin and writes one decision per line,
or ``{"error": ...}`` for a request the router would refuse.
"""

import argparse

from router.cli.arguments import add_config_args


def add_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    route = commands.add_parser(
        "route",
        help="print the routing decision for a prompt (offline, no Ray)",
        description="Route a prompt, or with '-' one JSON chat request per stdin line, "
        "through the configured pipeline and print the decision.",
    )
    route.add_argument("prompt", help="the user message, or '-' for JSON lines on stdin")
    add_config_args(route)
    route.add_argument("--model", default="auto", help="alias or model id (default: auto)")
    route.add_argument(
        "--max-tokens", type=int, default=None, help="the request's max_tokens (default: none)"
    )
    route.add_argument("--key-name", default=None, help="route as this named API key")
    route.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="a request header"
    )
    route.add_argument("--json", action="store_true", help="one JSON decision per line")
    route.set_defaults(func=_route)


def _route(args: argparse.Namespace) -> int:
    # Imported here: the routing pipeline imports transformers, which --help must not.
    from router.cli.route_offline import route

    return route(args)
