# Installation and distribution: `make install` / `make uninstall` (DESTDIR, PREFIX and the
# directory variables of the top Makefile), `make check-distro` (the package booted under systemd).
INSTALL ?= install

INSTALL_FILES := \
	$(SBINDIR)/netspyd \
	$(BINDIR)/netspyctl \
	$(MANDIR)/man8/netspyd.8 \
	$(MANDIR)/man1/netspyctl.1 \
	$(UNITDIR)/netspyd.service \
	$(UNITDIR)/netspy-recorder.service \
	$(UNITDIR)/netspy-recorder.socket \
	$(SYSUSERSDIR)/netspy.conf \
	$(COMPLETIONDIR)/netspyctl

install: all
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(COMPLETIONDIR)
	$(INSTALL) -m 0755 $(BUILD)/netspyd $(DESTDIR)$(SBINDIR)/netspyd
	$(INSTALL) -m 0755 $(BUILD)/netspyctl $(DESTDIR)$(BINDIR)/netspyctl
	$(INSTALL) -m 0644 docs/netspyd.8 $(DESTDIR)$(MANDIR)/man8/netspyd.8
	$(INSTALL) -m 0644 docs/netspyctl.1 $(DESTDIR)$(MANDIR)/man1/netspyctl.1
	sed 's|^ExecStart=/usr/sbin/netspyd|ExecStart=$(SBINDIR)/netspyd|' systemd/netspyd.service \
		> $(DESTDIR)$(UNITDIR)/netspyd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/netspyd.service
	sed 's|^ExecStart=/usr/bin/netspyctl|ExecStart=$(BINDIR)/netspyctl|' \
		systemd/netspy-recorder.service > $(DESTDIR)$(UNITDIR)/netspy-recorder.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/netspy-recorder.service
	$(INSTALL) -m 0644 systemd/netspy-recorder.socket $(DESTDIR)$(UNITDIR)/netspy-recorder.socket
	$(INSTALL) -m 0644 systemd/netspy.sysusers $(DESTDIR)$(SYSUSERSDIR)/netspy.conf
	$(INSTALL) -m 0644 packaging/bash-completion/netspyctl $(DESTDIR)$(COMPLETIONDIR)/netspyctl

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALL_FILES))

.PHONY: check-distro check-kernels deb rpm
deb:
	packaging/build-deb.sh

rpm:
	packaging/build-rpm.sh

# Builds the .deb, boots it in a minimal Debian under systemd-nspawn and checks the service there;
# then runs packaging/quickstart.sh in another fresh copy of that Debian (tests/quickstart.test.sh).
check-distro: all
	NETSPY_CHECK_DISTRO=1 NETSPY_BUILD=$(BUILD) tests/run-all distro quickstart

# Boots each kernel of tests/kernels/list (Debian's packages) under qemu with this build and runs
# the integration suites inside (tests/kernels.test.sh).
check-kernels: check-build
	NETSPY_CHECK_KERNELS=1 NETSPY_BUILD=$(BUILD) tests/run-all kernels
