# Tests: unit test programs (tests/unit/*.c, one binary each), helper programs (tests/tools/*.c)
# and the shell suites (tests/*.test.sh). `make check` runs them all through tests/run-all, which
# ends with the plain summary line "N passed, N failed".
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit_%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/%)
TEST_LIBS := $(ANALYZER_LIBS) $(NETSPYD_LIBS)

$(BUILD)/tests/unit_%: tests/unit/%.c $(ANALYZER_ARCHIVES) $(GEN_HEADERS) $(BUILD)/bpf/netspy.skel.h
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) -Itests/unit $(NS_CFLAGS) $(NS_LDFLAGS) -o $@ $< \
		$(ANALYZER_ARCHIVES) $(TEST_LIBS)

$(BUILD)/tests/%: tests/tools/%.c $(ANALYZER_ARCHIVES) $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) $(NS_CFLAGS) $(NS_LDFLAGS) -o $@ $< \
		$(ANALYZER_ARCHIVES) $(ANALYZER_LIBS)

# Header dependencies of the programs above (each compiled from one source with -MMD -MP): a
# unit test that includes a .c of netspyd's (tests/unit/wire.c) is rebuilt when that file changes.
-include $(wildcard $(BUILD)/tests/*.d)

.PHONY: check check-unit check-build
check-build: all $(UNIT_BINS) $(TOOL_BINS)

# SUITES=name1,name2 runs only those (names as tests/run-all prints them).
check: check-build
	NETSPY_BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run-all $(SUITES)

check-unit: check-build
	NETSPY_BUILD=$(BUILD) tests/run-all unit
