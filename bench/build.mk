# Benchmarks. `make bench` builds every bench/bench_*.c (one program each, linked with the
# analyzer library), the helpers the system benchmarks need, and runs bench/run.sh, which prints
# one table of ratios and counts measured in the same run (BENCHMARKS.md explains it).
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
BENCH_HELPERS := $(BUILD)/bench/orig_consumer $(BUILD)/bench/empty_loader $(BUILD)/tests/storm \
	$(BUILD)/tests/subscriber $(BUILD)/tests/trafficgen $(BUILD)/tests/tcpbench

$(BUILD)/bench/%.bpf.o: bench/%.bpf.c bpf/vmlinux/$(ARCH)/vmlinux.h
	@mkdir -p $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(BPFTOOL) gen object $@ $@.tmp
	@rm -f $@.tmp

$(BUILD)/bench/%.skel.h: $(BUILD)/bench/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

$(BENCH_BINS): $(BUILD)/bench/%: bench/%.c $(ANALYZER_ARCHIVES) $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) -Ibench $(NS_CFLAGS) $(NS_LDFLAGS) -o $@ $< \
		$(ANALYZER_ARCHIVES) $(ANALYZER_LIBS) $(NETSPYD_LIBS)

$(BUILD)/bench/orig_consumer: bench/orig_consumer.c $(BUILD)/bench/orig_connect.skel.h
	$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) -I$(BUILD)/bench $(NS_CFLAGS) $(NS_LDFLAGS) -o $@ $< \
		$(NETSPYD_LIBS)

$(BUILD)/bench/empty_loader: bench/empty_loader.c $(BUILD)/bench/empty_hooks.skel.h
	$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) -I$(BUILD)/bench $(NS_CFLAGS) $(NS_LDFLAGS) -o $@ $< \
		$(NETSPYD_LIBS)

# Header dependencies of the programs above (-MMD -MP): bench_wire.c includes collectord/wire.c.
-include $(wildcard $(BUILD)/bench/*.d)

.PHONY: bench-build
bench-build: all $(BENCH_BINS) $(BENCH_HELPERS)

bench: bench-build
	NETSPY_BUILD=$(BUILD) bench/run.sh
