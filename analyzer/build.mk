# netspyctl and the analyzer library (everything in analyzer/ but the main program), which tests,
# fuzz harnesses and benchmarks link against.
ANALYZER_MAIN := analyzer/netspyctl.c
ANALYZER_SRCS := $(filter-out $(ANALYZER_MAIN),$(wildcard analyzer/*.c))
ANALYZER_OBJS := $(ANALYZER_SRCS:%.c=$(BUILD)/obj/%.o)
ANALYZER_LIBS := $(shell $(PKG_CONFIG) --libs libprotobuf-c json-c libcurl libedit 2>/dev/null) -lm

$(BUILD)/libanalyzer.a: $(ANALYZER_OBJS) $(PROTO_OBJS)
	@rm -f $@
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/netspyctl: $(BUILD)/obj/analyzer/netspyctl.o $(BUILD)/libanalyzer.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(NS_LDFLAGS) -o $@ $^ $(ANALYZER_LIBS)
