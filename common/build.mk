# The small library of helpers that netspyd and the analyzer share (clocks, mountinfo): every
# common/*.c, linked into both programs and everything that links the analyzer library. Headers
# are included by name (-Icommon).
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/libcommon.a: $(COMMON_OBJS)
	@rm -f $@
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

# netspyd links it after its own objects (a prerequisite added here lands in the link line's $^).
$(BUILD)/netspyd: $(BUILD)/libcommon.a
