/* Fuzzes the reading of a process's command line (/proc/PID/cmdline: bytes any local user
 * chooses, shown to people and sent to models): procinfo_format_cmdline() must bound it, keep it
 * free of control characters and always return a NUL-terminated string or NULL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/procinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = procinfo_format_cmdline((const char *)data, size);
	size_t n;

	if (!s)
		return 0;
	n = strlen(s);
	if (n > (PROCINFO_CMDLINE_MAX + 3) * 4)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
	free(s);
	return 0;
}
