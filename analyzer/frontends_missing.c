/* Stand-ins for the shell and the MCP server in builds that do not have them yet. */
#include <stdio.h>

#include "client.h"
#include "frontends.h"

int shell_main(struct tool_context *ctx)
{
	(void)ctx;
	fprintf(stderr, "netspyctl: the interactive shell is not built into this netspyctl\n");
	return NETSPY_EXIT_USAGE;
}

int mcp_main(struct tool_context *ctx)
{
	(void)ctx;
	fprintf(stderr, "netspyctl: the MCP server is not built into this netspyctl\n");
	return NETSPY_EXIT_USAGE;
}
