"""Business actions on contacts. Views, the API, the MCP server, commands and tasks call these."""
