# Fuzzing. Every fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput and has a seed corpus in
# fuzz/corpus/NAME/. Two builds of each harness:
#  - $(BUILD)/fuzz/replay_NAME: any compiler, with fuzz/replay_main.c; `make check` replays the
#    corpus with it (tests/fuzz.test.sh), under ASan+UBSan too with SANITIZE=1.
#  - $(BUILD)/fuzz/fuzz_NAME: clang's libFuzzer with ASan+UBSan, the library code instrumented
#    as well. `make fuzz` runs each for FUZZ_SECONDS; tests/fuzz.test.sh runs a short smoke.
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:fuzz/fuzz_%.c=%)
FUZZ_REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60

# replay_main.c is an object of its own (the main build's rule), so that each command below
# compiles one source and -MMD writes that source's headers into $@.d.
FUZZ_REPLAY_MAIN := $(BUILD)/obj/fuzz/replay_main.o

$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c $(FUZZ_REPLAY_MAIN) $(ANALYZER_ARCHIVES) $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) -Ifuzz $(NS_CFLAGS) $(NS_LDFLAGS) -o $@ $< \
		$(FUZZ_REPLAY_MAIN) $(ANALYZER_ARCHIVES) $(ANALYZER_LIBS)

# libFuzzer objects: the analyzer library and the protocol code rebuilt with coverage and
# sanitizers (clang's warnings differ from gcc's, so they do not fail this build).
FUZZ_OBJDIR := $(BUILD)/fuzz/obj
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -MMD -MP
FUZZ_LIB_SRCS := $(ANALYZER_SRCS) $(COMMON_SRCS) proto/frame.c $(BUILD)/proto/netspy.pb-c.c
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_OBJDIR)/%.o)

$(FUZZ_OBJDIR)/%.o: %.c $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) -D_GNU_SOURCE -DNETSPY_VERSION='"$(VERSION)"' -I$(BUILD)/proto -Iproto -Ibpf -Icommon \
		-Ianalyzer $(PC_CFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CLANG) -D_GNU_SOURCE -DNETSPY_VERSION='"$(VERSION)"' -I$(BUILD)/proto -Iproto -Ibpf -Icommon \
		-Ianalyzer -Ifuzz $(PC_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_LIB_OBJS) $(ANALYZER_LIBS)

# Header dependencies: every object and program above is compiled with -MMD -MP (NS_CFLAGS,
# FUZZ_CFLAGS), which writes the headers it included next to it as a .d file, as the main
# build's objects have them; without these a changed header left stale objects behind.
-include $(shell find $(BUILD)/fuzz -name '*.d' 2>/dev/null)

.PHONY: fuzz fuzz-build fuzz-replay-build
fuzz-replay-build: $(FUZZ_REPLAY_BINS)
fuzz-build: $(FUZZ_BINS)
check-build: fuzz-replay-build

# Each harness in turn, new inputs kept in fuzz/corpus-work/NAME (not committed; copy the
# interesting ones into fuzz/corpus/NAME).
fuzz: fuzz-build
	@for n in $(FUZZ_NAMES); do \
		mkdir -p fuzz/corpus-work/$$n; \
		echo "== fuzz_$$n for $(FUZZ_SECONDS)s"; \
		$(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			fuzz/corpus-work/$$n fuzz/corpus/$$n || exit 1; \
	done

# Seed corpora that a program writes (fuzz/seeds_NAME.c, run with the corpus directory).
$(BUILD)/fuzz/seeds_%: fuzz/seeds_%.c $(ANALYZER_ARCHIVES) $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) $(NS_CFLAGS) $(NS_LDFLAGS) -o $@ $< \
		$(ANALYZER_ARCHIVES) $(ANALYZER_LIBS)

.PHONY: fuzz-seeds
fuzz-seeds: $(patsubst fuzz/seeds_%.c,$(BUILD)/fuzz/seeds_%,$(wildcard fuzz/seeds_*.c))
	@for s in $^; do n=$${s##*/seeds_}; mkdir -p fuzz/corpus/$$n; $$s fuzz/corpus/$$n; done
