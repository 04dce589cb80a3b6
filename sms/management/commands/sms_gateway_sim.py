"""Run the Mailpro-protocol gateway simulator (see sms/simulator.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sms.simulator import SimConfig, SimServer, SimState


class Command(BaseCommand):
    help = "Serve a Mailpro-compatible SMS API locally, with switches for latency and failures."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--latency-ms", type=float, default=0)
        parser.add_argument("--error-rate", type=float, default=0.0, help="share of HTTP 500s")
        parser.add_argument("--timeout-rate", type=float, default=0.0, help="share that hang")
        parser.add_argument("--malformed-rate", type=float, default=0.0, help="share of bad JSON")
        parser.add_argument("--busy-rate", type=float, default=0.0, help="share of HTTP 429s")
        parser.add_argument("--hang-seconds", type=float, default=30.0)
        parser.add_argument("--callback-url", default="", help="post 'delivered' reports here")
        parser.add_argument("--callback-secret", default="", help="default: SMS_WEBHOOK_SECRET")
        parser.add_argument("--verbose", action="store_true")

    def handle(self, *args, host: str, port: int, verbose: bool, **options):
        config = SimConfig(
            latency_ms=options["latency_ms"], error_rate=options["error_rate"],
            timeout_rate=options["timeout_rate"], malformed_rate=options["malformed_rate"],
            busy_rate=options["busy_rate"],
            hang_seconds=options["hang_seconds"], callback_url=options["callback_url"],
            callback_secret=options["callback_secret"],
        )  # fmt: skip
        rates = ("error", "timeout", "malformed", "busy")
        for name, rate in ((name, options[f"{name}_rate"]) for name in rates):
            if not 0 <= rate <= 1:
                raise CommandError(f"--{name}-rate must be between 0 and 1.", returncode=2)
        if not 0 <= port <= 65535:
            raise CommandError("--port must be 0 to 65535 (0: any free port).", returncode=2)
        if config.callback_url and not config.callback_url.startswith(("http://", "https://")):
            raise CommandError(
                "--callback-url must be an http(s) URL, e.g. "
                "http://127.0.0.1:8000/sms/hooks/mailpro/status/",
                returncode=2,
            )
        try:
            server = SimServer((host, port), SimState(config))
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose another --port (0: any free one)."
            ) from None
        server.verbose = verbose
        self.stdout.write(
            f"SMS gateway simulator (Mailpro protocol) on {server.url}  Ctrl-C stops."
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
