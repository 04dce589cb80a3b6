from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "dashboard.agents"
    label = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Fill the action registry the pipeline dispatches on.
        from dashboard.agents import actions  # noqa: F401
