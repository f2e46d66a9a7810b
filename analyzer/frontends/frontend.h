/* The interactive frontends netspyctl starts: the shell (`netspyctl shell`, or no command on a
 * terminal) and the MCP server on stdio (`netspyctl mcp`). Both get a tool context whose analyzer
 * is live (subscribed, backlog replayed; analyzer_poll brings it up to date and reconnects).
 * For mcp the daemon may not have been reachable at start: tools then report that until a later
 * analyzer_poll connects. Each returns netspyctl's exit code. */
#ifndef NETSPY_FRONTENDS_H
#define NETSPY_FRONTENDS_H

#include "tools/context.h"

int shell_main(struct tool_context *ctx);
int mcp_main(struct tool_context *ctx);

#endif
