from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "dashboard.agents"
    label = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Fill the action registry the pipeline dispatches on.
        from contacts.services.erasure import register_scrubber
        from dashboard.agents import actions  # noqa: F401
        from dashboard.agents.erasure import scrub_agent_requests

        register_scrubber(scrub_agent_requests)
