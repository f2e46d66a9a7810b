# netspyd: the privileged collector.
NETSPYD_SRCS := $(wildcard collectord/*.c)
NETSPYD_OBJS := $(NETSPYD_SRCS:%.c=$(BUILD)/obj/%.o)
NETSPYD_LIBS := $(shell $(PKG_CONFIG) --libs libbpf libprotobuf-c libsystemd 2>/dev/null)

$(NETSPYD_OBJS): $(BUILD)/bpf/netspy.skel.h

$(BUILD)/netspyd: $(NETSPYD_OBJS) $(PROTO_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(NS_LDFLAGS) -o $@ $^ $(NETSPYD_LIBS)
