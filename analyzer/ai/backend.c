/* The AI backends netspy knows, in the order they are tried: the first one configured answers.
 * Adding a backend is one file with its struct ai_backend_ops plus one line here. */
#include <stddef.h>

#include "ai/backend.h"
#include "ai/openai.h"

static const struct ai_backend_ops *const backends[] = {
	&openai_backend,
	NULL,
};

int ai_backend_open(const struct ai_settings *s, FILE *progress, struct ai_backend **ret,
		    char **ret_error)
{
	int r;

	*ret = NULL;
	if (s->offline)
		return 0;
	for (const struct ai_backend_ops *const *o = backends; *o; o++) {
		r = (*o)->open(s, ret, ret_error);
		if (r < 0)
			return r;
		if (*ret) {
			(*ret)->progress = progress;
			return 0;
		}
	}
	return 0;
}

int ai_backend_chat(struct ai_backend *b, json_object *request, FILE *stream_out,
		    struct ai_reply *ret, bool *ret_streamed, char **ret_error)
{
	return b->ops->chat(b, request, stream_out, ret, ret_streamed, ret_error);
}

void ai_backend_close(struct ai_backend *b)
{
	if (b)
		b->ops->close(b);
}
