from django.urls import path

from dashboard.agents.views import agents, connect, messages, prompts, undo

app_name = "agents"

urlpatterns = [
    path("", agents.agent_list, name="list"),
    path("new/", agents.agent_create, name="create"),
    path("messages/", messages.agent_messages, name="messages"),
    path("connect/", connect.connect, name="connect"),
    path("actions/<int:action_id>/undo/", undo.undo_action, name="undo_action"),
    path("<int:agent_id>/", agents.agent_detail, name="detail"),
    path("<int:agent_id>/settings/", agents.agent_update, name="update"),
    path("<int:agent_id>/rotate/", agents.agent_rotate, name="rotate"),
    path("<int:agent_id>/revoke/", agents.agent_revoke, name="revoke"),
    path("<int:agent_id>/prompt/", prompts.prompt, name="prompt"),
    path("<int:agent_id>/prompt/diff/", prompts.prompt_diff, name="prompt_diff"),
    path("<int:agent_id>/prompt/activate/", prompts.prompt_activate, name="prompt_activate"),
    path("<int:agent_id>/prompt/preview/", prompts.prompt_preview, name="prompt_preview"),
    path("<int:agent_id>/undo/", undo.undo_window, name="undo_window"),
]
