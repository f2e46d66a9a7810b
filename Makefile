# netspy: top-level build. `make` builds build/netspyd and build/netspyctl; `make check` runs every
# test; `make install` honours DESTDIR and PREFIX. Each directory adds its own rules in build.mk.

VERSION := 0.1.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c
PKG_CONFIG ?= pkg-config

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# SANITIZE=1 builds everything with ASan+UBSan into build/san so that the two builds coexist.
ifeq ($(SANITIZE),1)
BUILD ?= build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SAN_FLAGS :=
endif

CFLAGS ?= -O2 -g
LIBS_PC := libbpf libprotobuf-c json-c libcurl libsystemd libedit sqlite3 libmicrohttpd
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
PC_LIBS := $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
	-Wno-missing-field-initializers
HARDEN := -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2
NS_CPPFLAGS := -D_GNU_SOURCE -DNETSPY_VERSION='"$(VERSION)"' -I$(BUILD)/proto -Iproto \
	-I$(BUILD)/bpf -Ibpf -Icommon -Icollectord -Ianalyzer $(PC_CFLAGS)
NS_CFLAGS := $(CFLAGS) $(WARN) $(HARDEN) $(SAN_FLAGS) -MMD -MP
NS_LDFLAGS := $(LDFLAGS) -pie -Wl,-z,relro,-z,now $(SAN_FLAGS)

# Quiet by default, kernel style; `make V=1` shows every command.
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

.PHONY: all clean install uninstall check bench fuzz format
all: $(BUILD)/netspyd $(BUILD)/netspyctl

# ---- generated code: protocol and BPF skeleton ------------------------------------------
$(BUILD)/proto/netspy.pb-c.c $(BUILD)/proto/netspy.pb-c.h: proto/netspy.proto
	@mkdir -p $(BUILD)/proto
	$(call msg,PROTOC,$<)
	$(Q)$(PROTOC_C) --c_out=$(BUILD)/proto --proto_path=proto $<

$(BUILD)/proto/netspy.pb-c.o: $(BUILD)/proto/netspy.pb-c.c
	$(call msg,CC,$<)
	$(Q)$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) $(filter-out -Werror,$(NS_CFLAGS)) -c $< -o $@

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Ibpf/vmlinux/$(ARCH) -Ibpf \
	-Wall -Werror -Wno-unused-function

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/netspy.h bpf/vmlinux/$(ARCH)/vmlinux.h
	@mkdir -p $(BUILD)/bpf
	$(call msg,BPF,$<)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	@rm -f $@.tmp

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# ---- C objects ----------------------------------------------------------------------------
GEN_HEADERS := $(BUILD)/proto/netspy.pb-c.h

$(BUILD)/obj/%.o: %.c $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(NS_CPPFLAGS) $(CPPFLAGS) $(NS_CFLAGS) -c $< -o $@

PROTO_OBJS := $(BUILD)/proto/netspy.pb-c.o $(BUILD)/obj/proto/frame.o

include common/build.mk
include collectord/build.mk
include analyzer/build.mk
-include tests/build.mk
-include fuzz/build.mk
-include bench/build.mk
-include packaging/build.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

clean:
	rm -rf build

format:
	clang-format -i $(wildcard */*.c */*.h */*/*.c */*/*.h bpf/*.bpf.c)
.SECONDARY:
