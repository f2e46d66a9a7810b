/* Unit tests for the kernel feature probe (collectord/kernel.c), against BTF built here: kernels
 * old and new as far as the probe can tell, and the test knob that hides features. */
#include <string.h>
#include <bpf/btf.h>

#include "check.h"
#include "../../collectord/kernel.c"

struct fake_kernel {
	bool ringbuf, task_btf, syscall_prog, kern_ctx;
	int kfree_skb_args; /* the probe's arguments, the context pointer included: 3, 4 or 5 */
};

static void add_enum(struct btf *btf, const char *name, const char *value)
{
	btf__add_enum(btf, name, 4);
	btf__add_enum_value(btf, "SOMETHING_ELSE", 0);
	if (value)
		btf__add_enum_value(btf, value, 1);
}

static struct btf *fake_btf(const struct fake_kernel *k)
{
	struct btf *btf = btf__new_empty();
	int u64 = btf__add_int(btf, "u64", 8, 0);
	int ptr = btf__add_ptr(btf, 0);
	int proto;

	add_enum(btf, "bpf_map_type", k->ringbuf ? "BPF_MAP_TYPE_RINGBUF" : NULL);
	add_enum(btf, "bpf_func_id", k->task_btf ? "BPF_FUNC_get_current_task_btf" : NULL);
	add_enum(btf, "bpf_prog_type", k->syscall_prog ? "BPF_PROG_TYPE_SYSCALL" : NULL);
	proto = btf__add_func_proto(btf, 0);
	for (int i = 0; i < k->kfree_skb_args; i++)
		btf__add_func_param(btf, NULL, i ? u64 : ptr);
	btf__add_typedef(btf, "btf_trace_kfree_skb", btf__add_ptr(btf, proto));
	if (k->kern_ctx) {
		btf__add_func(btf, "bpf_cast_to_kern_ctx", BTF_FUNC_GLOBAL,
			      btf__add_func_proto(btf, ptr));
		btf__add_func(btf, "bpf_rdonly_cast", BTF_FUNC_GLOBAL,
			      btf__add_func_proto(btf, ptr));
	}
	return btf;
}

static struct kernel_features probe(const struct fake_kernel *k, const char *hide)
{
	struct btf *btf = fake_btf(k);
	struct kernel_features f;

	kernel_probe(btf, hide, &f);
	btf__free(btf);
	return f;
}

int main(void)
{
	const struct fake_kernel k618 = { true, true, true, true, 5 };
	const struct fake_kernel k61 = { true, true, true, false, 4 };
	const struct fake_kernel k515 = { true, true, true, false, 3 };
	const struct fake_kernel k510 = { true, false, false, false, 3 };
	struct kernel_features f;
	char buf[256];

	f = probe(&k618, NULL);
	kernel_features_list(&f, true, buf, sizeof(buf));
	CHECK(!strcmp(buf, "ringbuf, task_btf, syscall_prog, drop_reason, kern_ctx, rx_sk"),
	      "a 6.18-like kernel has every feature (%s)", buf);
	CHECK(kernel_missing_required(&f) == KERNEL_F_MAX, "and lacks nothing required");

	f = probe(&k61, NULL);
	kernel_features_list(&f, false, buf, sizeof(buf));
	CHECK(!strcmp(buf, "kern_ctx, rx_sk"), "a 6.1-like kernel lacks kern_ctx and rx_sk (%s)",
	      buf);
	CHECK(f.has[KERNEL_F_DROP_REASON], "it has drop reasons (4 tracepoint arguments)");
	CHECK(kernel_missing_required(&f) == KERNEL_F_MAX, "and is supported");

	f = probe(&k515, NULL);
	CHECK(!f.has[KERNEL_F_DROP_REASON] && kernel_missing_required(&f) == KERNEL_F_MAX,
	      "a 5.15-like kernel: no drop reasons, still supported");

	f = probe(&k510, NULL);
	CHECK(kernel_missing_required(&f) == KERNEL_F_TASK_BTF,
	      "a 5.10-like kernel: the first required feature missing is task_btf");
	CHECK(!strcmp(kernel_feature_info(KERNEL_F_TASK_BTF)->since, "5.11"),
	      "which arrived in 5.11");

	f = probe(&k618, "kern_ctx,syscall_prog");
	CHECK(!f.has[KERNEL_F_KERN_CTX] && !f.has[KERNEL_F_SYSCALL_PROG] && f.has[KERNEL_F_RX_SK],
	      "hidden features are reported missing, the others not");
	CHECK(kernel_missing_required(&f) == KERNEL_F_SYSCALL_PROG, "a hidden required one counts");
	f = probe(&k618, "kern,ctx,rx_sk_");
	CHECK(f.has[KERNEL_F_KERN_CTX] && f.has[KERNEL_F_RX_SK],
	      "only whole keys hide a feature (no prefix or suffix match)");
	f = probe(&k618, "");
	CHECK(kernel_missing_required(&f) == KERNEL_F_MAX && f.has[KERNEL_F_KERN_CTX],
	      "an empty list hides nothing");

	for (int i = 0; i < KERNEL_F_MAX; i++) {
		const struct kernel_feature_info *fi = kernel_feature_info((enum kernel_feature)i);

		CHECK(fi->key && fi->what && fi->since && (fi->required || fi->without),
		      "feature %d (%s) says what it is, since when and what is lost without it", i,
		      fi->key);
	}
	return CHECK_DONE();
}
