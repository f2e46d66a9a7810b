# netspyctl and the analyzer library, which tests, fuzz harnesses and benchmarks link against: every
# .c of the layer directories (core, tools, ai, frontends; see docs/HACKING.md) but the main
# program. A new file in a layer is picked up without editing this list.
ANALYZER_LAYERS := core tools ai frontends
ANALYZER_MAIN := analyzer/frontends/netspyctl.c
ANALYZER_SRCS := $(filter-out $(ANALYZER_MAIN), \
	$(foreach l,$(ANALYZER_LAYERS),$(wildcard analyzer/$(l)/*.c)))
ANALYZER_OBJS := $(ANALYZER_SRCS:%.c=$(BUILD)/obj/%.o)
# What a program that uses the analyzer links, in link order.
ANALYZER_ARCHIVES := $(BUILD)/libanalyzer.a $(BUILD)/libcommon.a
ANALYZER_LIBS := $(shell $(PKG_CONFIG) --libs libprotobuf-c json-c libcurl libedit sqlite3 libmicrohttpd libsystemd \
	2>/dev/null) -lm -lpthread

$(BUILD)/libanalyzer.a: $(ANALYZER_OBJS) $(PROTO_OBJS)
	@rm -f $@
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/netspyctl: $(BUILD)/obj/analyzer/frontends/netspyctl.o $(ANALYZER_ARCHIVES)
	$(call msg,LD,$@)
	$(Q)$(CC) $(NS_LDFLAGS) -o $@ $^ $(ANALYZER_LIBS)
