/* Unit tests for drop-reason names read from the running kernel's BTF (collectord/dropnames.c). */
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "../../collectord/dropnames.c"

int main(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	struct dropnames *d = NULL;
	char buf[32];
	int no_socket = -1;

	CHECK(btf != NULL, "the kernel has BTF");
	if (!btf)
		return CHECK_DONE();
	CHECK(dropnames_load(btf, &d) == 0, "enum skb_drop_reason found");
	CHECK(dropnames_count(d) > 50, "a kernel 6.x names dozens of reasons (%zu)",
	      dropnames_count(d));
	/* Find the value the running kernel gives NO_SOCKET, then look it up by value. */
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].name, "NO_SOCKET"))
			no_socket = (int)d->v[i].value;
	CHECK(no_socket > 0, "NO_SOCKET is named without its SKB_DROP_REASON_ prefix");
	CHECK(!strcmp(dropnames_get(d, (uint32_t)no_socket, buf, sizeof(buf)), "NO_SOCKET"),
	      "lookup by value gives the kernel's name");
	CHECK(!strcmp(dropnames_get(d, 0xfffff, buf, sizeof(buf)), "UNKNOWN_1048575"),
	      "a value the kernel does not name is shown as UNKNOWN_<n>");
	dropnames_free(d);
	btf__free(btf);
	return CHECK_DONE();
}
