from tests.agents.personas import *  # noqa: F403  (agent personas shared by agents/api/mcp tests)
