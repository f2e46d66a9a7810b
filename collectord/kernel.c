/* The running kernel's features, from its BTF: enumerators of the BPF uapi enums (map and program
 * types, helper ids), the kfunc's BTF function and the kfree_skb tracepoint's arguments. */
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

#include "kernel.h"

static const struct kernel_feature_info infos[KERNEL_F_MAX] = {
	[KERNEL_F_RINGBUF] = { "ringbuf", "the BPF ring buffer (BPF_MAP_TYPE_RINGBUF)", "5.8", true,
			       NULL },
	[KERNEL_F_TASK_BTF] = { "task_btf", "the bpf_get_current_task_btf helper", "5.11", true,
				NULL },
	[KERNEL_F_SYSCALL_PROG] = { "syscall_prog", "BPF syscall programs (BPF_PROG_TYPE_SYSCALL)",
				    "5.14", true, NULL },
	[KERNEL_F_DROP_REASON] = { "drop_reason", "drop reasons in the kfree_skb tracepoint",
				   "5.17", false, "packet drops are not traced" },
	[KERNEL_F_KERN_CTX] = { "kern_ctx", "the bpf_cast_to_kern_ctx and bpf_rdonly_cast kfuncs", "6.2", false,
				"the connect hooks read the socket cookie through a helper call "
				"(slower)" },
	[KERNEL_F_RX_SK] = { "rx_sk", "the receiving socket in the kfree_skb tracepoint", "6.12",
			     false,
			     "drops of packets not yet bound to a socket are attributed less "
			     "often" },
};

const struct kernel_feature_info *kernel_feature_info(enum kernel_feature f)
{
	return &infos[f];
}

/* Whether the kernel's `enum name` has the enumerator `value`. */
static bool enum_has(const struct btf *btf, const char *name, const char *value)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_ENUM);
	const struct btf_type *t;
	const struct btf_enum *e;

	if (id < 0)
		return false;
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++, e++) {
		const char *n = btf__name_by_offset(btf, e->name_off);

		if (n && !strcmp(n, value))
			return true;
	}
	return false;
}

/* Arguments of the kfree_skb tracepoint, from the BTF of its probe's type: the tracepoint's own
 * arguments plus the leading context pointer (void *, skb, location[, reason[, rx_sk]]). */
static int kfree_skb_args(const struct btf *btf)
{
	int id = btf__find_by_name_kind(btf, "btf_trace_kfree_skb", BTF_KIND_TYPEDEF);
	const struct btf_type *t;

	if (id < 0)
		return 0;
	t = btf__type_by_id(btf, id);
	t = t ? btf__type_by_id(btf, t->type) : NULL; /* pointer */
	if (!t || !btf_is_ptr(t))
		return 0;
	t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) ? btf_vlen(t) : 0;
}

static bool hidden(const char *hide, const char *key)
{
	size_t n = strlen(key);

	for (const char *s = hide; s && *s;) {
		const char *end = strchrnul(s, ',');

		if ((size_t)(end - s) == n && !strncmp(s, key, n))
			return true;
		s = *end ? end + 1 : end;
	}
	return false;
}

void kernel_probe(const struct btf *btf, const char *hide, struct kernel_features *ret)
{
	int args = kfree_skb_args(btf);

	ret->has[KERNEL_F_RINGBUF] = enum_has(btf, "bpf_map_type", "BPF_MAP_TYPE_RINGBUF");
	ret->has[KERNEL_F_TASK_BTF] = enum_has(btf, "bpf_func_id", "BPF_FUNC_get_current_task_btf");
	ret->has[KERNEL_F_SYSCALL_PROG] = enum_has(btf, "bpf_prog_type", "BPF_PROG_TYPE_SYSCALL");
	ret->has[KERNEL_F_DROP_REASON] = args >= 4;
	ret->has[KERNEL_F_KERN_CTX] =
	    btf__find_by_name_kind(btf, "bpf_cast_to_kern_ctx", BTF_KIND_FUNC) >= 0 &&
	    btf__find_by_name_kind(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) >= 0;
	ret->has[KERNEL_F_RX_SK] = args >= 5;
	for (int f = 0; f < KERNEL_F_MAX; f++)
		if (hidden(hide, infos[f].key))
			ret->has[f] = false;
}

enum kernel_feature kernel_missing_required(const struct kernel_features *f)
{
	for (int i = 0; i < KERNEL_F_MAX; i++)
		if (infos[i].required && !f->has[i])
			return (enum kernel_feature)i;
	return KERNEL_F_MAX;
}

void kernel_features_list(const struct kernel_features *f, bool present, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (int i = 0; i < KERNEL_F_MAX && used < len; i++) {
		if (f->has[i] != present)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
					 infos[i].key);
	}
}
